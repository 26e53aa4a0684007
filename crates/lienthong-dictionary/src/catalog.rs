//! The element catalogue and the shipped datasets (the citizen register and the sector
//! datasets the synthetic generator produces).

use crate::codes;
use crate::element::{Charset, Element, FieldOpts, Kind, Sensitivity};

use Sensitivity::{Personal, Public, SensitivePersonal};

macro_rules! el {
    ($name:literal, $vi:literal, $en:literal, $kind:expr, $format:literal, $sens:expr, $norm:expr) => {
        Element {
            name: $name,
            label_vi: $vi,
            label_en: $en,
            kind: $kind,
            format: $format,
            sensitivity: $sens,
            normaliser: $norm,
        }
    };
}

const TEXT_NORM: &str = "NFC; legacy encodings (TCVN3, VNI, UTF-8 read as Windows-1252) repaired and reported; whitespace collapsed; canonical tone placement";

/// Every element of the shared dictionary.
pub static ELEMENTS: &[Element] = &[
    el!("personal_id", "Số định danh cá nhân", "Personal identification number", Kind::PersonalId, "12 digits, PPP G YY RRRRRR", Personal, "spaces, dots and dashes removed; structure checked against birth date, sex and the 63 pre-2025 province codes (warning only)"),
    el!("old_id", "Số CMND", "Old identity card number (CMND)", Kind::OldId, "9 digits", Personal, "spaces, dots and dashes removed"),
    el!("full_name", "Họ và tên", "Full name", Kind::Name, "text, at most 100 characters", Personal, "text normaliser; upper or lower case title-cased"),
    el!("family_name", "Họ", "Family name", Kind::Name, "text", Personal, "as full_name"),
    el!("middle_name", "Chữ đệm", "Middle name", Kind::Name, "text", Personal, "as full_name"),
    el!("given_name", "Tên", "Given name", Kind::Name, "text", Personal, "as full_name"),
    el!("birth_date", "Ngày tháng năm sinh", "Date of birth", Kind::Date { year_only: true }, "YYYY-MM-DD or YYYY", Personal, "accepts ISO, YYYYMMDD, DD/MM/YYYY and a year alone; writes ISO"),
    el!("sex", "Giới tính", "Sex", Kind::Coded(&codes::SEX), "1 male, 2 female", Personal, "Nam/Nữ/M/F written as the code"),
    el!("ethnicity", "Dân tộc", "Ethnic group", Kind::Ethnicity, "2-digit code with its code system", SensitivePersonal, "names and aliases written as the code; a 1-digit code gets its leading zero"),
    el!("ethnicity_name", "Tên dân tộc", "Ethnic group name", Kind::Text { max_chars: 50 }, "text", SensitivePersonal, TEXT_NORM),
    el!("religion", "Tôn giáo", "Religion", Kind::Religion, "2-digit QCVN 109 Appendix G code, empty for none", SensitivePersonal, "00/99/Không become empty"),
    el!("nationality", "Quốc tịch", "Nationality", Kind::Nationality, "ISO 3166-1 alpha-2", Personal, "upper-cased; Việt Nam written as VN"),
    el!("marital_status", "Tình trạng hôn nhân", "Marital status", Kind::Coded(&codes::MARITAL_STATUS), "1 digit", Personal, "labels written as the code"),
    el!("province_code", "Mã tỉnh", "Province code", Kind::ProvinceCode, "2 digits (QĐ 19/2025)", Public, "lost leading zeros restored"),
    el!("commune_code", "Mã xã", "Commune code", Kind::CommuneCode, "5 digits (QĐ 19/2025)", Public, "lost leading zeros restored; checked to belong to its province"),
    el!("address", "Địa chỉ", "Address", Kind::Address, "street, commune, province separated by commas", Personal, "text normaliser; abbreviations expanded (TP., Q., P., TX., …); pre-2025 units mapped where unambiguous, otherwise flagged"),
    el!("phone", "Số điện thoại", "Phone number", Kind::Phone, "E.164, +84…", Personal, "mobile and landline forms to E.164; 11-digit mobiles renumbered"),
    el!("email", "Thư điện tử", "E-mail", Kind::Email, "local@domain", Personal, "domain lower-cased"),
    el!("amount_vnd", "Số tiền (đồng)", "Amount in VND", Kind::AmountVnd, "non-negative integer", Public, "thousands separators and currency sign removed"),
    el!("date", "Ngày", "Date", Kind::Date { year_only: false }, "YYYY-MM-DD", Public, "accepts ISO, YYYYMMDD, DD/MM/YYYY; writes ISO"),
    el!("timestamp", "Thời điểm", "Timestamp", Kind::Timestamp, "RFC 3339", Public, "a space separator accepted; no offset means +07:00"),
    el!("land_parcel_id", "Mã thửa đất", "Land parcel identifier", Kind::LandParcelId, "CCCCC-S-N: commune code, map sheet, parcel number", Public, "none"),
    el!("tax_code", "Mã số thuế", "Tax identification number", Kind::TaxCode, "10 digits with the check digit last; 10-3 for a dependent unit; a person's 12-digit id number (from 1 July 2025)", Personal, "spaces and dots removed; the dash before a dependent unit's number written"),
    el!("cas_number", "Số CAS", "CAS Registry Number", Kind::CasNumber, "2-7 digits, 2 digits, check digit: NNNNNNN-NN-R", Public, "dashes written where they were left out"),
    el!("un_number", "Số UN", "UN number (dangerous goods)", Kind::UnNumber, "UN and 4 digits", Public, "upper-cased; spaces removed; UN written before bare digits"),
    el!("enterprise_name", "Tên doanh nghiệp", "Enterprise name", Kind::Text { max_chars: 300 }, "text", Public, TEXT_NORM),
    el!("enterprise_status", "Tình trạng hoạt động", "Enterprise status", Kind::Enum(&["active", "suspended", "dissolved"]), "active | suspended | dissolved", Public, "none"),
    el!("declaration_id", "Số khai báo", "Declaration number", Kind::Identifier { min_len: 6, max_len: 20, charset: Charset::UpperAlnum }, "6-20 letters and digits", Public, "upper-cased"),
    el!("substance_name", "Tên hóa chất", "Substance name", Kind::Text { max_chars: 300 }, "text", Public, TEXT_NORM),
    el!("quantity_kg", "Khối lượng (kg)", "Quantity in kilograms", Kind::Decimal { min: 0.0, max: 1.0e12 }, "decimal", Public, "comma decimal separator accepted"),
    el!("document_number", "Số, ký hiệu văn bản", "Document number and symbol", Kind::DocumentNumber, "NUMBER[/YEAR]/TYPE-ISSUER (NĐ 30/2020)", Public, "a leading \"Số:\" and spaces removed; abbreviations upper-cased"),
    el!("vehicle_plate", "Biển số xe", "Vehicle registration plate", Kind::VehiclePlate, "locality (2 digits), series, 4-5 digits; stored without separators", Personal, "separators removed, upper-cased"),
    el!("agency_name", "Cơ quan, đơn vị", "Agency or unit", Kind::Text { max_chars: 300 }, "text", Public, TEXT_NORM),
    el!("position", "Chức vụ", "Position", Kind::Text { max_chars: 200 }, "text", Personal, TEXT_NORM),
    el!("year", "Năm", "Year", Kind::Identifier { min_len: 4, max_len: 4, charset: Charset::Digits }, "4 digits", Public, "none"),
    el!("violation", "Hành vi vi phạm", "Violation", Kind::Text { max_chars: 1000 }, "text", Personal, TEXT_NORM),
    el!("floors", "Số tầng", "Floors", Kind::Decimal { min: 1.0, max: 200.0 }, "1-200", Public, "none"),
    el!("crop", "Cây trồng, vật nuôi", "Crop or livestock", Kind::Enum(&["rice", "maize", "coffee", "rubber", "pepper", "fruit", "vegetables", "aquaculture", "pigs", "poultry", "cattle"]), "lienthong's list (no national code list found)", Public, "none"),
    el!("event_id", "Mã sự kiện hộ tịch", "Civil-status event id", Kind::Identifier { min_len: 6, max_len: 20, charset: Charset::UpperAlnum }, "6-20 letters and digits", Public, "upper-cased"),
    el!("event_type", "Loại sự kiện", "Civil-status event type", Kind::Enum(&["birth", "death", "marriage"]), "birth | death | marriage", Public, "none"),
    el!("insurance_no", "Mã số BHXH", "Social-insurance number", Kind::Identifier { min_len: 10, max_len: 10, charset: Charset::Digits }, "10 digits", Personal, "none"),
    el!("employer_name", "Đơn vị sử dụng lao động", "Employer", Kind::Text { max_chars: 200 }, "text", Public, TEXT_NORM),
    el!("insurance_status", "Trạng thái tham gia", "Participation status", Kind::Enum(&["active", "suspended", "closed"]), "active | suspended | closed", Public, "none"),
    el!("health_card_no", "Mã thẻ BHYT", "Health-insurance card number", Kind::Identifier { min_len: 15, max_len: 15, charset: Charset::UpperAlnum }, "15 letters and digits", Personal, "upper-cased"),
    el!("area_m2", "Diện tích (m²)", "Area in square metres", Kind::Decimal { min: 0.0, max: 1.0e9 }, "decimal", Public, "comma decimal separator accepted"),
    el!("land_use_code", "Mục đích sử dụng đất", "Land use", Kind::Enum(&["ODT", "ONT", "LUA", "CLN", "BHK", "RSX", "NTS", "SKC"]), "land-use code", Public, "none"),
    el!("share_pct", "Tỷ lệ sở hữu (%)", "Ownership share", Kind::Decimal { min: 0.0, max: 100.0 }, "0-100", Public, "none"),
    el!("student_id", "Mã học sinh", "Student id", Kind::Identifier { min_len: 10, max_len: 12, charset: Charset::UpperAlnum }, "10-12 letters and digits", Personal, "upper-cased"),
    el!("school_name", "Tên trường", "School", Kind::Text { max_chars: 200 }, "text", Public, TEXT_NORM),
    el!("education_level", "Cấp học", "Education level", Kind::Enum(&["primary", "lower_secondary", "upper_secondary", "higher"]), "level", Public, "none"),
    el!("school_year", "Năm học", "School year", Kind::Text { max_chars: 9 }, "YYYY-YYYY", Public, "none"),
];

pub fn element(name: &str) -> Option<&'static Element> {
    ELEMENTS.iter().find(|e| e.name == name)
}

/// A dataset field bound to a dictionary element.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub element: &'static str,
    pub mandatory: bool,
    pub opts: FieldOpts,
}

/// Checks that span fields (and, for one, another dataset).
#[derive(Debug, Clone, Copy)]
pub enum CrossCheck {
    /// `PPP G YY` of the personal ID against birth date, sex and the 63 pre-2025 provinces.
    PersonalIdStructure {
        id: &'static str,
        birth_date: &'static str,
        sex: Option<&'static str>,
    },
    /// The commune belongs to the province (current tree).
    CommuneInProvince {
        commune: &'static str,
        province: &'static str,
    },
    /// The address names the coded commune and province.
    AddressAgrees {
        address: &'static str,
        commune: Option<&'static str>,
        province: &'static str,
    },
    /// The ethnic code agrees with the ethnic name in the same record.
    EthnicityLabel {
        code: &'static str,
        label: &'static str,
    },
    /// A participant recorded as deceased in the civil-status register is not `active`.
    NotDeceasedWhenActive {
        id: &'static str,
        status: &'static str,
    },
    /// The value names a record of another register (a dataset, by its key), when that
    /// register is given as a reference.
    InRegister {
        field: &'static str,
        register: &'static str,
    },
    /// `from` is not after `to`.
    DateOrder {
        from: &'static str,
        to: &'static str,
    },
}

/// A named list of fields with keys, mandatory fields and cross-field checks.
#[derive(Debug)]
pub struct Dataset {
    pub name: &'static str,
    pub title: &'static str,
    pub fields: &'static [Field],
    /// Fields that together identify a record; a repeated key is a duplicate.
    pub key: &'static [&'static str],
    /// Whether columns beyond `fields` are tolerated (and ignored).
    pub allow_extra: bool,
    pub checks: &'static [CrossCheck],
}

impl Dataset {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

const QD121: FieldOpts = FieldOpts {
    ethnicity: &codes::ETHNICITY_QD121,
};

macro_rules! f {
    ($name:literal) => {
        f!($name, $name, false)
    };
    ($name:literal, !) => {
        f!($name, $name, true)
    };
    ($name:literal, $el:literal) => {
        f!($name, $el, false)
    };
    ($name:literal, $el:literal, !) => {
        f!($name, $el, true)
    };
    ($name:literal, $el:literal, $m:expr) => {
        Field {
            name: $name,
            element: $el,
            mandatory: $m,
            opts: QD121,
        }
    };
}

/// The record's commune code belongs to its province code.
const COMMUNE_IN_PROVINCE: CrossCheck = CrossCheck::CommuneInProvince {
    commune: "commune_code",
    province: "province_code",
};

/// The record's address names its coded commune and province.
const ADDRESS_AGREES: CrossCheck = CrossCheck::AddressAgrees {
    address: "address",
    commune: Some("commune_code"),
    province: "province_code",
};

/// The person named is in the population register (when it is given as a reference).
const PERSON_IN_REGISTER: CrossCheck = CrossCheck::InRegister {
    field: "personal_id",
    register: "citizen",
};

/// The organisation named is in the enterprise register (when it is given as a reference).
const ENTERPRISE_IN_REGISTER: CrossCheck = CrossCheck::InRegister {
    field: "tax_code",
    register: "enterprise",
};

/// The citizen register (`citizen`): the contract other tools and tests rely on.
pub static CITIZEN: Dataset = Dataset {
    name: "citizen",
    title: "Citizen register (CSDL quốc gia về dân cư, synthetic)",
    fields: &[
        f!("personal_id", !),
        f!("full_name", !),
        f!("birth_date", !),
        f!("sex", !),
        f!("ethnicity"),
        f!("religion"),
        f!("nationality"),
        f!("province_code", !),
        f!("commune_code", !),
        f!("address"),
        f!("phone"),
        f!("email"),
        f!("updated_at", "timestamp"),
    ],
    key: &["personal_id"],
    allow_extra: false,
    checks: &[
        CrossCheck::PersonalIdStructure {
            id: "personal_id",
            birth_date: "birth_date",
            sex: Some("sex"),
        },
        COMMUNE_IN_PROVINCE,
        ADDRESS_AGREES,
    ],
};

pub static CIVIL_STATUS_EVENT: Dataset = Dataset {
    name: "civil_status_event",
    title: "Civil-status events: births, deaths, marriages (hộ tịch)",
    fields: &[
        f!("event_id", !),
        f!("event_type", !),
        f!("personal_id", !),
        f!("full_name", !),
        f!("event_date", "date", !),
        f!("province_code", !),
        f!("commune_code", !),
        f!("registered_at", "timestamp"),
    ],
    key: &["event_id"],
    allow_extra: false,
    checks: &[COMMUNE_IN_PROVINCE],
};

pub static SOCIAL_INSURANCE: Dataset = Dataset {
    name: "social_insurance",
    title: "Social-insurance participants (BHXH)",
    fields: &[
        f!("insurance_no", !),
        f!("personal_id", !),
        f!("full_name", !),
        f!("birth_date", !),
        f!("employer_name", !),
        f!("monthly_salary_vnd", "amount_vnd"),
        f!("status", "insurance_status", !),
        f!("province_code", !),
        f!("updated_at", "timestamp"),
    ],
    key: &["insurance_no"],
    allow_extra: false,
    checks: &[CrossCheck::NotDeceasedWhenActive {
        id: "personal_id",
        status: "status",
    }],
};

pub static HEALTH_INSURANCE: Dataset = Dataset {
    name: "health_insurance",
    title: "Health-insurance cards (BHYT)",
    fields: &[
        f!("card_no", "health_card_no", !),
        f!("personal_id", !),
        f!("full_name", !),
        f!("birth_date", !),
        f!("sex", !),
        f!("ethnicity"),
        f!("ethnicity_name"),
        f!("valid_from", "date", !),
        f!("valid_to", "date", !),
        f!("province_code", !),
    ],
    key: &["card_no"],
    allow_extra: false,
    checks: &[
        CrossCheck::PersonalIdStructure {
            id: "personal_id",
            birth_date: "birth_date",
            sex: Some("sex"),
        },
        CrossCheck::EthnicityLabel {
            code: "ethnicity",
            label: "ethnicity_name",
        },
        CrossCheck::DateOrder {
            from: "valid_from",
            to: "valid_to",
        },
    ],
};

pub static LAND_PARCEL: Dataset = Dataset {
    name: "land_parcel",
    title: "Land parcels (thửa đất)",
    fields: &[
        f!("parcel_id", "land_parcel_id", !),
        f!("province_code", !),
        f!("commune_code", !),
        f!("area_m2", !),
        f!("land_use", "land_use_code", !),
        f!("address"),
    ],
    key: &["parcel_id"],
    allow_extra: false,
    checks: &[COMMUNE_IN_PROVINCE, ADDRESS_AGREES],
};

pub static LAND_OWNER: Dataset = Dataset {
    name: "land_owner",
    title: "Land-use right holders",
    fields: &[
        f!("parcel_id", "land_parcel_id", !),
        f!("personal_id", !),
        f!("full_name", !),
        f!("share_pct", !),
        f!("since", "date"),
    ],
    key: &["parcel_id", "personal_id"],
    allow_extra: false,
    checks: &[],
};

pub static EDUCATION_ENROLMENT: Dataset = Dataset {
    name: "education_enrolment",
    title: "School and university enrolments",
    fields: &[
        f!("student_id", !),
        f!("personal_id", !),
        f!("full_name", !),
        f!("birth_date", !),
        f!("school_name", !),
        f!("level", "education_level", !),
        f!("school_year", !),
        f!("province_code", !),
        f!("commune_code"),
    ],
    key: &["student_id"],
    allow_extra: false,
    checks: &[COMMUNE_IN_PROVINCE],
};

/// The enterprise register (finance: đăng ký doanh nghiệp): the tax code is the enterprise
/// code; `personal_id` and `full_name` are the legal representative's.
pub static ENTERPRISE: Dataset = Dataset {
    name: "enterprise",
    title: "Enterprise register (doanh nghiệp)",
    fields: &[
        f!("tax_code", !),
        f!("enterprise_name", !),
        f!("personal_id", !),
        f!("full_name", !),
        f!("founded_on", "date", !),
        f!("status", "enterprise_status", !),
        f!("province_code", !),
        f!("commune_code", !),
        f!("address"),
    ],
    key: &["tax_code"],
    allow_extra: false,
    checks: &[COMMUNE_IN_PROVINCE, ADDRESS_AGREES, PERSON_IN_REGISTER],
};

/// Chemicals: what a facility declares it holds or uses (khai báo hóa chất), the facility
/// named by its tax code.
pub static CHEMICAL_DECLARATION: Dataset = Dataset {
    name: "chemical_declaration",
    title: "Chemical declarations (khai báo hóa chất)",
    fields: &[
        f!("declaration_id", !),
        f!("tax_code", !),
        f!("cas_number", !),
        f!("un_number"),
        f!("substance_name", !),
        f!("quantity_kg", !),
        f!("declared_on", "date", !),
    ],
    key: &["declaration_id"],
    allow_extra: false,
    checks: &[ENTERPRISE_IN_REGISTER],
};

/// Asset and income declarations of officials (kê khai tài sản, thu nhập).
pub static ASSET_DECLARATION: Dataset = Dataset {
    name: "asset_declaration",
    title: "Asset and income declarations (kê khai tài sản, thu nhập)",
    fields: &[
        f!("declaration_id", !),
        f!("personal_id", !),
        f!("full_name", !),
        f!("birth_date", !),
        f!("agency", "agency_name", !),
        f!("position", !),
        f!("year", !),
        f!("total_assets_vnd", "amount_vnd", !),
        f!("declared_on", "date", !),
    ],
    key: &["declaration_id"],
    allow_extra: false,
    checks: &[
        CrossCheck::DateOrder {
            from: "birth_date",
            to: "declared_on",
        },
        PERSON_IN_REGISTER,
    ],
};

/// Administrative violation decisions (quyết định xử phạt vi phạm hành chính): a person or an
/// organisation (its tax code); a traffic violation names the vehicle's plate.
pub static ADMINISTRATIVE_VIOLATION: Dataset = Dataset {
    name: "administrative_violation",
    title: "Administrative violation decisions (xử phạt vi phạm hành chính)",
    fields: &[
        f!("decision_no", "document_number", !),
        f!("personal_id"),
        f!("full_name"),
        f!("tax_code"),
        f!("vehicle_plate"),
        f!("violation", !),
        f!("fine_vnd", "amount_vnd", !),
        f!("decided_on", "date", !),
        f!("province_code", !),
        f!("commune_code"),
    ],
    key: &["decision_no"],
    allow_extra: false,
    checks: &[
        COMMUNE_IN_PROVINCE,
        PERSON_IN_REGISTER,
        ENTERPRISE_IN_REGISTER,
    ],
};

/// Construction permits (giấy phép xây dựng) for a building on a land parcel.
pub static CONSTRUCTION_PERMIT: Dataset = Dataset {
    name: "construction_permit",
    title: "Construction permits (giấy phép xây dựng)",
    fields: &[
        f!("permit_no", "document_number", !),
        f!("personal_id", !),
        f!("full_name", !),
        f!("parcel_id", "land_parcel_id", !),
        f!("province_code", !),
        f!("commune_code", !),
        f!("address"),
        f!("floors"),
        f!("area_m2"),
        f!("issued_on", "date", !),
    ],
    key: &["permit_no"],
    allow_extra: false,
    checks: &[COMMUNE_IN_PROVINCE, ADDRESS_AGREES, PERSON_IN_REGISTER],
};

/// Agriculture: a household's crops or livestock for a year.
pub static FARM_RECORD: Dataset = Dataset {
    name: "farm_record",
    title: "Farm records (trồng trọt, chăn nuôi)",
    fields: &[
        f!("record_id", "declaration_id", !),
        f!("personal_id", !),
        f!("full_name", !),
        f!("province_code", !),
        f!("commune_code", !),
        f!("crop", !),
        f!("area_m2", !),
        f!("year", !),
    ],
    key: &["record_id"],
    allow_extra: false,
    checks: &[COMMUNE_IN_PROVINCE, PERSON_IN_REGISTER],
};

/// Every shipped dataset.
pub static DATASETS: &[&Dataset] = &[
    &CITIZEN,
    &CIVIL_STATUS_EVENT,
    &SOCIAL_INSURANCE,
    &HEALTH_INSURANCE,
    &LAND_PARCEL,
    &LAND_OWNER,
    &EDUCATION_ENROLMENT,
    &ENTERPRISE,
    &CHEMICAL_DECLARATION,
    &ASSET_DECLARATION,
    &ADMINISTRATIVE_VIOLATION,
    &CONSTRUCTION_PERMIT,
    &FARM_RECORD,
];

pub fn dataset(name: &str) -> Option<&'static Dataset> {
    DATASETS.iter().copied().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_binds_to_an_element_and_every_check_to_fields() {
        for d in DATASETS {
            for f in d.fields {
                assert!(
                    element(f.element).is_some(),
                    "{}.{} → {}",
                    d.name,
                    f.name,
                    f.element
                );
            }
            for k in d.key {
                assert!(
                    d.field(k).is_some_and(|f| f.mandatory),
                    "{}: key {k}",
                    d.name
                );
            }
        }
        let mut names: Vec<_> = ELEMENTS.iter().map(|e| e.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ELEMENTS.len(), "element names are unique");
        assert!(ELEMENTS.iter().all(|e| e
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())));
    }
}
