//! Lookups by id in a registry that no longer changes (a snapshot a node installed): members,
//! services, agreements by consumer and service, and revocations, each one hash probe instead
//! of a walk over the lists. A national registry holds thousands of members and services and
//! tens of thousands of agreements; a node looks several of them up on every exchange. Pure.

use std::collections::{HashMap, HashSet};

use crate::{Agreement, Member, Registry, Service};

/// Where each entry of a [`Registry`] sits in its lists. Built once per registry; it answers
/// for that registry only (an index into another one's lists would name the wrong entries).
#[derive(Debug, Default)]
pub struct Lookup {
    members: HashMap<String, usize>,
    services: HashMap<String, usize>,
    /// consumer → service → the agreements between them, in the registry's order.
    agreements: HashMap<String, HashMap<String, Vec<usize>>>,
    revoked: HashSet<String>,
}

impl Lookup {
    pub fn new(registry: &Registry) -> Lookup {
        let mut lookup = Lookup::default();
        // The first entry with an id is the one a walk over the list finds.
        for (i, m) in registry.members.iter().enumerate() {
            lookup.members.entry(m.id.clone()).or_insert(i);
        }
        for (i, s) in registry.services.iter().enumerate() {
            lookup.services.entry(s.id.clone()).or_insert(i);
        }
        for (i, a) in registry.agreements.iter().enumerate() {
            lookup
                .agreements
                .entry(a.consumer.clone())
                .or_default()
                .entry(a.service.clone())
                .or_default()
                .push(i);
        }
        lookup.revoked = registry.revoked.iter().cloned().collect();
        lookup
    }

    /// [`Registry::member`].
    pub fn member<'r>(&self, registry: &'r Registry, id: &str) -> Option<&'r Member> {
        self.members.get(id).and_then(|&i| registry.members.get(i))
    }

    /// [`Registry::service`].
    pub fn service<'r>(&self, registry: &'r Registry, id: &str) -> Option<&'r Service> {
        self.services
            .get(id)
            .and_then(|&i| registry.services.get(i))
    }

    /// The agreements of `consumer` for `service`, in the registry's order.
    pub fn agreements<'r>(
        &self,
        registry: &'r Registry,
        consumer: &str,
        service: &str,
    ) -> impl Iterator<Item = &'r Agreement> + use<'r, '_> {
        self.agreements
            .get(consumer)
            .and_then(|by_service| by_service.get(service))
            .into_iter()
            .flatten()
            .filter_map(|&i| registry.agreements.get(i))
    }

    /// [`Registry::is_revoked`]: the id, or a member or class it belongs to (an id up to one
    /// of its `/`), is revoked.
    pub fn is_revoked(&self, id: &str) -> bool {
        if self.revoked.is_empty() {
            return false;
        }
        self.revoked.contains(id)
            || id
                .match_indices('/')
                .any(|(at, _)| self.revoked.contains(&id[..at]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        let member = |id: &str, name: &str| Member {
            id: id.into(),
            name: name.into(),
            signing_key: String::new(),
            address: None,
            cert_fingerprint: String::new(),
            log_key: None,
        };
        let service = |id: &str| Service {
            id: id.into(),
            dataset: "citizen".into(),
            personal_data: true,
            rest: false,
            user_id_required: false,
        };
        let agreement = |consumer: &str, service: &str, purpose: &str| Agreement {
            consumer: consumer.into(),
            service: service.into(),
            fields: vec!["*".into()],
            purposes: vec![purpose.into()],
            legal_basis: String::new(),
            valid_from: "2025-01-01".into(),
            valid_to: "2099-12-31".into(),
            methods: Vec::new(),
            changes: false,
            basis: None,
            withhold_days: None,
        };
        Registry {
            instance: "VN".into(),
            members: vec![
                member("VN/GOV/BCA/DANCU", "first"),
                member("VN/GOV/BHXH/SI", "x"),
                member("VN/GOV/BCA/DANCU", "second"),
                member("VN/GOV/BCA2/A", "y"),
            ],
            services: vec![
                service("VN/GOV/BCA/DANCU/profile"),
                service("VN/GOV/BCA/DANCU/a"),
            ],
            agreements: vec![
                agreement("VN/GOV/BHXH/SI", "VN/GOV/BCA/DANCU/profile", "p1"),
                agreement("VN/GOV/BHXH/SI", "VN/GOV/BCA/DANCU/a", "p2"),
                agreement("VN/GOV/BHXH/SI", "VN/GOV/BCA/DANCU/profile", "p3"),
            ],
            revoked: vec!["VN/GOV/BCA".into(), "VN/GOV/BHXH/SI/old".into()],
            ..Default::default()
        }
    }

    #[test]
    fn every_lookup_finds_what_a_walk_over_the_lists_finds() {
        let r = registry();
        let l = Lookup::new(&r);
        for id in [
            "VN/GOV/BCA/DANCU",
            "VN/GOV/BHXH/SI",
            "VN/GOV/BCA2/A",
            "VN/GOV/X/Y",
            "",
        ] {
            assert_eq!(l.member(&r, id), r.member(id), "{id}");
        }
        assert_eq!(l.member(&r, "VN/GOV/BCA/DANCU").unwrap().name, "first");
        for id in [
            "VN/GOV/BCA/DANCU/profile",
            "VN/GOV/BCA/DANCU/a",
            "VN/GOV/BCA/DANCU/b",
        ] {
            assert_eq!(l.service(&r, id), r.service(id), "{id}");
        }
        let purposes: Vec<&str> = l
            .agreements(&r, "VN/GOV/BHXH/SI", "VN/GOV/BCA/DANCU/profile")
            .map(|a| a.purposes[0].as_str())
            .collect();
        assert_eq!(purposes, ["p1", "p3"]);
        assert_eq!(
            l.agreements(&r, "VN/GOV/BCA2/A", "VN/GOV/BCA/DANCU/a")
                .count(),
            0
        );
        for id in [
            "VN/GOV/BCA",
            "VN/GOV/BCA/DANCU",
            "VN/GOV/BCA/DANCU/profile",
            "VN/GOV/BCA2/A",
            "VN/GOV/BCA2",
            "VN/GOV",
            "VN/GOV/BHXH/SI",
            "VN/GOV/BHXH/SI/old",
            "VN/GOV/BHXH/SI/old/x",
            "VN/GOV/BHXH/SI/older",
            "",
            "/",
        ] {
            assert_eq!(l.is_revoked(id), r.is_revoked(id), "{id}");
        }
        assert!(l.is_revoked("VN/GOV/BCA/DANCU"));
        assert!(!l.is_revoked("VN/GOV/BCA2/A"));
    }
}
