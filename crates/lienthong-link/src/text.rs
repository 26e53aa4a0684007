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
    /// Hashes of `exact`, `folded`, and of surname + middle + given: comparing names is
    /// mostly comparing these.
    pub exact_hash: u64,
    pub folded_hash: u64,
    pub canonical_hash: u64,
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
            .filter(|c| {
                folded
                    .strip_prefix(**c)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
            })
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
            exact_hash: crate::compare::hash(&exact),
            folded_hash: crate::compare::hash(&folded),
            canonical_hash: crate::compare::hash(&(&surname, &middle, &given)),
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
        self.canonical_hash == other.canonical_hash && !self.given.is_empty()
    }
}

/// What a prepared record keeps of a name: the two strings the fuzzy levels need and
/// hashes for the exact ones (a parsed [`Name`] is dropped once blocking keys are made).
#[derive(Debug, Clone, PartialEq)]
pub struct NameKey {
    pub exact: Box<str>,
    pub folded: Box<str>,
    pub exact_hash: u64,
    pub folded_hash: u64,
    /// Surname + middle + given (regional variants made one).
    pub canonical_hash: u64,
    /// Surname + given.
    pub core_hash: u64,
    pub has_middle: bool,
    pub has_given: bool,
    /// The folded words in sorted order: the same name written in another order (given name
    /// first, as records from abroad do).
    pub words_hash: u64,
}

impl From<&Name> for NameKey {
    fn from(n: &Name) -> NameKey {
        NameKey {
            exact: n.exact.as_str().into(),
            folded: n.folded.as_str().into(),
            exact_hash: n.exact_hash,
            folded_hash: n.folded_hash,
            canonical_hash: n.canonical_hash,
            core_hash: crate::compare::hash(&(&n.surname, &n.given)),
            has_middle: !n.middle.is_empty(),
            has_given: !n.given.is_empty(),
            words_hash: {
                let mut words: Vec<&str> = n.folded.split(' ').collect();
                words.sort_unstable();
                crate::compare::hash(&words)
            },
        }
    }
}

impl NameKey {
    /// As [`Name::core_equals`].
    pub fn core_equals(&self, other: &NameKey) -> bool {
        self.core_hash == other.core_hash
            && self.has_given
            && (!self.has_middle || !other.has_middle)
    }

    /// The same words in another order (at least two words).
    pub fn same_words(&self, other: &NameKey) -> bool {
        self.words_hash == other.words_hash && self.folded.contains(' ')
    }

    /// As [`Name::canonical_equals`].
    pub fn canonical_equals(&self, other: &NameKey) -> bool {
        self.canonical_hash == other.canonical_hash && self.has_given
    }
}

/// Folded text for the generic text comparator (addresses, employers).
pub fn fold(s: &str) -> String {
    fold_key(s)
}

/// Whether `a` becomes `b` by at most one insertion, deletion, substitution or swap of two
/// adjacent characters (the optimal-string-alignment distance is at most 1), in one pass.
pub fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    match long.len() - short.len() {
        0 => {
            let diffs: Vec<usize> = (0..short.len()).filter(|&i| short[i] != long[i]).collect();
            match diffs.as_slice() {
                [] | [_] => true,
                [i, j] => *j == i + 1 && short[*i] == long[*j] && short[*j] == long[*i],
                _ => false,
            }
        }
        1 => {
            let first = (0..short.len())
                .find(|&i| short[i] != long[i])
                .unwrap_or(short.len());
            short[first..] == long[first + 1..]
        }
        _ => false,
    }
}

/// [`one_edit_same_length`] on bytes.
pub fn one_edit_same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diffs = a
        .iter()
        .zip(b)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, _)| i);
    match (diffs.next(), diffs.next(), diffs.next()) {
        (Some(_), None, _) => true,
        (Some(i), Some(j), None) => j == i + 1 && a[i] == b[j] && a[j] == b[i],
        _ => false,
    }
}

/// Whether two equal-length strings differ in one place, or by two adjacent characters
/// swapped.
pub fn one_edit_same_length(a: &str, b: &str) -> bool {
    one_edit_same_bytes(a.as_bytes(), b.as_bytes())
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
    fn within_one_edit_matches_the_distance() {
        for (a, b, want) in [
            ("nguyen", "nguyen", true),
            ("nguyen", "nguyn", true),
            ("nguyen", "nguyenn", true),
            ("nguyen", "ngyuen", true),
            ("nguyen", "nguyan", true),
            ("nguyen", "ngyuan", false),
            ("an", "anh", true),
            ("an", "", false),
            ("", "a", true),
        ] {
            assert_eq!(within_one_edit(a, b), want, "{a} {b}");
            assert_eq!(
                within_one_edit(a, b),
                strsim::osa_distance(a, b) <= 1,
                "{a} {b}"
            );
        }
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
