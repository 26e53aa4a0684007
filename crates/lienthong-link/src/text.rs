//! Names prepared for comparison: lower-cased, folded (tones, vowel marks and Đ removed),
//! split into surname, middle and given name, regional surname variants made one.

use lienthong_dictionary::vn::fold_key;

/// Surnames written two ways across regions, folded: the northern form is canonical.
const REGIONAL: &[(&str, &str)] = &[("huynh", "hoang"), ("vo", "vu")];

/// Two-word surnames, folded (the longest match wins).
const COMPOUND: &[&str] = &[
    "cong tang ton nu",
    "ton nu",
    "ton that",
    "au duong",
    "nguyen phuc",
    "nguyen phuoc",
];

/// A name ready for comparison. Every part is folded except `exact`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Name {
    /// Lower-cased, whitespace collapsed, diacritics kept.
    pub exact: String,
    /// Folded (no diacritics, đ → d).
    pub folded: String,
    /// Folded surname with regional variants made one (Huỳnh → hoang, Võ → vu).
    pub surname: String,
    pub middle: String,
    pub given: String,
}

impl Name {
    /// Prepares a name already normalised by the dictionary (NFC, legacy repaired, tones
    /// placed canonically). Empty input gives `None`.
    pub fn new(s: &str) -> Option<Name> {
        let exact: String = s
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if exact.is_empty() {
            return None;
        }
        let folded = fold_key(&exact);
        let words: Vec<&str> = folded.split(' ').collect();
        let compound = COMPOUND
            .iter()
            .filter(|c| folded == **c || folded.starts_with(&format!("{c} ")))
            .map(|c| c.split(' ').count())
            .max()
            .unwrap_or(1);
        let (surname, middle, given) = if words.len() <= compound {
            (words.join(" "), String::new(), String::new())
        } else {
            let given = words[words.len() - 1].to_owned();
            let middle = words[compound..words.len() - 1].join(" ");
            (words[..compound].join(" "), middle, given)
        };
        let surname = REGIONAL
            .iter()
            .find(|(variant, _)| *variant == surname)
            .map_or(surname, |(_, canonical)| (*canonical).to_owned());
        Some(Name {
            exact,
            folded,
            surname,
            middle,
            given,
        })
    }

    /// Surname and given name agree and one side has no middle name (it was left out).
    pub fn core_equals(&self, other: &Name) -> bool {
        self.surname == other.surname
            && self.given == other.given
            && !self.given.is_empty()
            && (self.middle.is_empty() || other.middle.is_empty())
    }

    /// Surname, middle and given name, regional variants equal.
    pub fn canonical_equals(&self, other: &Name) -> bool {
        self.surname == other.surname
            && self.given == other.given
            && !self.given.is_empty()
            && self.middle == other.middle
    }
}

/// Folded text for the generic text comparator (addresses, employers).
pub fn fold(s: &str) -> String {
    fold_key(s)
}

/// Whether two equal-length strings differ in one place, or by two adjacent characters
/// swapped.
pub fn one_edit_same_length(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diffs: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    match diffs.as_slice() {
        [_] => true,
        [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_canonicalises() {
        let n = Name::new("Huỳnh  Thị Ngọc Ánh").unwrap();
        assert_eq!(n.exact, "huỳnh thị ngọc ánh");
        assert_eq!(n.folded, "huynh thi ngoc anh");
        assert_eq!(
            (n.surname.as_str(), n.middle.as_str(), n.given.as_str()),
            ("hoang", "thi ngoc", "anh")
        );
        let t = Name::new("Tôn Nữ Minh Thư").unwrap();
        assert_eq!(
            (t.surname.as_str(), t.middle.as_str(), t.given.as_str()),
            ("ton nu", "minh", "thu")
        );
        assert!(Name::new("Hoàng Thị Ngọc Ánh")
            .unwrap()
            .canonical_equals(&n));
        assert!(Name::new("Hoàng Ánh").unwrap().core_equals(&n));
        assert!(!Name::new("Hoàng Văn Ánh").unwrap().core_equals(&n));
        assert!(Name::new(" ").is_none());
        let one = Name::new("Bảo").unwrap();
        assert_eq!((one.surname.as_str(), one.given.as_str()), ("bao", ""));
    }

    #[test]
    fn one_edit() {
        assert!(one_edit_same_length("001090123456", "001090123457"));
        assert!(one_edit_same_length("001090123456", "001090123465"));
        assert!(!one_edit_same_length("001090123456", "001090123564"));
        assert!(!one_edit_same_length("001090123456", "00109012345"));
        assert!(!one_edit_same_length("12", "12"));
    }
}
