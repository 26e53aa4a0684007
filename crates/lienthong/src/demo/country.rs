//! The demo's country: the agencies, their datasets, the hop and the agreements.

use super::*;

/// One agency in the demo: member id, display name, and the dataset it publishes (if any).
pub(super) struct Agency {
    pub(super) id: &'static str,
    pub(super) name: &'static str,
    pub(super) publishes: Option<(&'static str, &'static Dataset)>,
}

pub(super) const AGENCIES: &[Agency] = &[
    Agency {
        id: "VN/GOV/BCA/DANCU",
        name: "Bộ Công an — CSDL quốc gia về dân cư",
        publishes: Some(("citizen", &catalog::CITIZEN)),
    },
    Agency {
        id: "VN/GOV/BHXH/SI",
        name: "Bảo hiểm xã hội Việt Nam",
        publishes: Some(("participants", &catalog::SOCIAL_INSURANCE)),
    },
    Agency {
        id: "VN/GOV/BYT/BHYT",
        name: "Bộ Y tế — thẻ bảo hiểm y tế",
        publishes: Some(("cards", &catalog::HEALTH_INSURANCE)),
    },
    Agency {
        id: "VN/GOV/BNNMT/DATDAI",
        name: "Bộ Nông nghiệp và Môi trường — đất đai",
        publishes: Some(("parcels", &catalog::LAND_PARCEL)),
    },
    Agency {
        id: "VN/GOV/BGDDT/HOCSINH",
        name: "Bộ Giáo dục và Đào tạo",
        publishes: Some(("enrolments", &catalog::EDUCATION_ENROLMENT)),
    },
    Agency {
        id: "VN/LOCAL/HANOI/UBND",
        name: "UBND Thành phố Hà Nội",
        publishes: None,
    },
    Agency {
        id: "VN/LOCAL/HCM/UBND",
        name: "UBND Thành phố Hồ Chí Minh",
        publishes: None,
    },
    Agency {
        id: "VN/GOV/TTDLQG/CENTER",
        name: "Trung tâm Dữ liệu quốc gia",
        publishes: None,
    },
    // The other priority databases (after the first ones, whose ports stay where they were).
    Agency {
        id: "VN/GOV/BTC/DKDN",
        name: "Bộ Tài chính — CSDL quốc gia về đăng ký doanh nghiệp",
        publishes: Some(("enterprises", &catalog::ENTERPRISE)),
    },
    Agency {
        id: "VN/GOV/BCT/HOACHAT",
        name: "Bộ Công Thương — CSDL hóa chất",
        publishes: Some(("declarations", &catalog::CHEMICAL_DECLARATION)),
    },
    Agency {
        id: "VN/GOV/TTCP/KSTSTN",
        name: "Thanh tra Chính phủ — CSDL về kiểm soát tài sản, thu nhập",
        publishes: Some(("declarations", &catalog::ASSET_DECLARATION)),
    },
    Agency {
        id: "VN/GOV/BTP/XLVPHC",
        name: "Bộ Tư pháp — CSDL quốc gia về xử lý vi phạm hành chính",
        publishes: Some(("decisions", &catalog::ADMINISTRATIVE_VIOLATION)),
    },
    Agency {
        id: "VN/GOV/BXD/CPXD",
        name: "Bộ Xây dựng — CSDL về cấp phép xây dựng",
        publishes: Some(("permits", &catalog::CONSTRUCTION_PERMIT)),
    },
    Agency {
        id: "VN/GOV/BNNMT/NONGNGHIEP",
        name: "Bộ Nông nghiệp và Môi trường — CSDL nông nghiệp",
        publishes: Some(("farms", &catalog::FARM_RECORD)),
    },
];

/// Hop by hop: Hà Nội's communes register civil-status events; the city's replica keeps
/// them with a change log, its node publishes them, and the center subscribes through its
/// own node.
pub(super) struct Hop {
    pub(super) communes_db: &'static str,
    pub(super) communes_table: &'static str,
    pub(super) province: &'static str,
    pub(super) province_db: &'static str,
    pub(super) service: &'static str,
    pub(super) center: &'static str,
    pub(super) purpose: &'static str,
}

pub(super) const HOP: Hop = Hop {
    communes_db: "VN_LOCAL_HANOI_communes",
    communes_table: "ho_tich",
    province: "VN/LOCAL/HANOI/UBND",
    province_db: "VN_LOCAL_HANOI_UBND-replica",
    service: "civil-status",
    center: "VN/GOV/TTDLQG/CENTER",
    purpose: "national-data-center",
};

pub(super) fn agreement(
    consumer: &str,
    service: &str,
    fields: &[&str],
    purpose: &str,
    basis: &str,
) -> Agreement {
    Agreement {
        consumer: consumer.into(),
        service: service.into(),
        fields: fields.iter().map(|f| f.to_string()).collect(),
        purposes: vec![purpose.into()],
        legal_basis: basis.into(),
        valid_from: "2025-01-01".into(),
        valid_to: "2030-12-31".into(),
        methods: Vec::new(),
        changes: false,
        // State agencies exchanging under the acts named in `legal_basis`.
        basis: Some("state-function".into()),
        withhold_days: None,
    }
}

/// The agreement that rests on consent: who reads the population register, for what.
pub(super) struct Consent {
    pub(super) consumer: &'static str,
    pub(super) purpose: &'static str,
}

pub(super) const CONSENT: Consent = Consent {
    consumer: "VN/LOCAL/HCM/UBND",
    purpose: "social-assistance",
};

/// The enterprise register's agency and table (a printed command reads an enterprise).
pub(super) const ENTERPRISES: (&str, &str) = ("VN/GOV/BTC/DKDN", "enterprises");

/// The Ministry of Education's REST-proxied service (its existing API, `school_api.rs`).
pub(super) const SCHOOL: &str = "VN/GOV/BGDDT/HOCSINH";

pub(super) fn agreements() -> Vec<Agreement> {
    // The center follows the city's change feed: a permission of its own.
    let mut hop = agreement(
        HOP.center,
        &format!("{}/{}", HOP.province, HOP.service),
        &["*"],
        HOP.purpose,
        "Luật Hộ tịch 2014; NĐ 278/2025/NĐ-CP",
    );
    hop.changes = true;
    let dancu = "VN/GOV/BCA/DANCU/citizen";
    // Hà Nội uses the ministry's API in full (every method); the agreement names every field,
    // so answers pass as the API gives them (its PDF certificates too).
    let mut school = agreement(
        "VN/LOCAL/HANOI/UBND",
        &format!("{SCHOOL}/{}", super::school_api::SERVICE),
        &catalog::EDUCATION_ENROLMENT
            .fields
            .iter()
            .map(|f| f.name)
            .collect::<Vec<_>>(),
        "school-enrolment",
        "Luật Giáo dục 2019",
    );
    school.methods = lienthong_registry::METHODS
        .iter()
        .map(|m| m.to_string())
        .collect();
    // Social assistance rests on each person's consent: they grant and withdraw it on the
    // citizen page, and the population register's node checks it at every call.
    let mut consent = agreement(
        CONSENT.consumer,
        dancu,
        &["personal_id", "full_name", "birth_date", "address"],
        CONSENT.purpose,
        "Nghị định 20/2021/NĐ-CP; sự đồng ý của chủ thể dữ liệu (Luật 91/2025/QH15)",
    );
    consent.basis = Some("consent".into());
    vec![
        school,
        agreement(
            "VN/GOV/BHXH/SI",
            dancu,
            &["personal_id", "full_name", "birth_date", "sex", "address"],
            "insurance-enrolment",
            "Luật Bảo hiểm xã hội 2024",
        ),
        agreement(
            "VN/GOV/BYT/BHYT",
            dancu,
            &["*"],
            "health-insurance-card",
            "Luật Bảo hiểm y tế",
        ),
        agreement(
            "VN/GOV/BNNMT/DATDAI",
            dancu,
            &["personal_id", "full_name", "address"],
            "land-registration",
            "Luật Đất đai 2024",
        ),
        agreement(
            "VN/GOV/BGDDT/HOCSINH",
            dancu,
            &["personal_id", "full_name", "birth_date"],
            "school-enrolment",
            "Luật Giáo dục 2019",
        ),
        agreement(
            "VN/LOCAL/HANOI/UBND",
            dancu,
            &["*", "ethnicity"],
            "residence-management",
            "Luật Cư trú 2020",
        ),
        consent,
        agreement(
            "VN/GOV/TTDLQG/CENTER",
            "VN/GOV/BHXH/SI/participants",
            &["*"],
            "national-data-center",
            "NĐ 278/2025/NĐ-CP",
        ),
        agreement(
            "VN/LOCAL/HANOI/UBND",
            "VN/GOV/BNNMT/DATDAI/parcels",
            &["*"],
            "land-administration",
            "Luật Đất đai 2024",
        ),
        // The other priority databases, each read by an agency that needs it.
        agreement(
            "VN/GOV/BHXH/SI",
            "VN/GOV/BTC/DKDN/enterprises",
            &[
                "tax_code",
                "enterprise_name",
                "status",
                "province_code",
                "commune_code",
            ],
            "employer-verification",
            "Luật Bảo hiểm xã hội 2024",
        ),
        agreement(
            "VN/LOCAL/HANOI/UBND",
            "VN/GOV/BCT/HOACHAT/declarations",
            &["*"],
            "chemical-safety-inspection",
            "Luật Hóa chất",
        ),
        agreement(
            "VN/GOV/TTDLQG/CENTER",
            "VN/GOV/TTCP/KSTSTN/declarations",
            &[
                "declaration_id",
                "personal_id",
                "full_name",
                "agency",
                "position",
                "year",
            ],
            "national-data-center",
            "Luật Phòng, chống tham nhũng 2018; NĐ 278/2025/NĐ-CP",
        ),
        agreement(
            "VN/LOCAL/HCM/UBND",
            "VN/GOV/BTP/XLVPHC/decisions",
            &["*"],
            "administrative-sanctions",
            "Luật Xử lý vi phạm hành chính 2012",
        ),
        agreement(
            "VN/LOCAL/HANOI/UBND",
            "VN/GOV/BXD/CPXD/permits",
            &["*"],
            "construction-inspection",
            "Luật Xây dựng 2014",
        ),
        agreement(
            "VN/GOV/TTDLQG/CENTER",
            "VN/GOV/BNNMT/NONGNGHIEP/farms",
            &["*"],
            "national-data-center",
            "NĐ 278/2025/NĐ-CP",
        ),
        // Social insurance checks the health-insurance cards it pays for.
        agreement(
            "VN/GOV/BHXH/SI",
            "VN/GOV/BYT/BHYT/cards",
            &[
                "card_no",
                "full_name",
                "valid_from",
                "valid_to",
                "province_code",
            ],
            "health-insurance-payment",
            "Luật Bảo hiểm y tế 2008, sửa đổi 2024",
        ),
        hop,
    ]
}

/// The demo's catalogue of databases (`catalogue.toml`): the priority databases the demo
/// runs, and three it does not.
pub(super) fn catalogue() -> Result<Vec<lienthong_registry::catalogue::Database>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        catalogue: Vec<lienthong_registry::catalogue::Database>,
    }
    let file: File =
        toml::from_str(include_str!("catalogue.toml")).context("demo/catalogue.toml")?;
    Ok(file.catalogue)
}
