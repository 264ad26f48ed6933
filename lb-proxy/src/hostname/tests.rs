use super::*;

fn p(s: &str) -> HostPattern {
    HostPattern::parse(if s.is_empty() { None } else { Some(s) })
}

#[test]
fn parse_rows() {
    for (input, want) in [
        ("", HostPattern::Any),
        (
            "Foo.Example.COM",
            HostPattern::Exact("foo.example.com".into()),
        ),
        (
            "*.example.com",
            HostPattern::Wildcard(".example.com".into()),
        ),
        ("example.com.", HostPattern::Exact("example.com".into())),
    ] {
        assert_eq!(p(input), want, "{input}");
    }
}

/// Rows from httproute-hostname-intersection and httproute-listener-hostname-matching:
/// a wildcard covers one or more labels, never the bare parent.
#[test]
fn httproute_listener_hostname_matching_wildcards() {
    for (pattern, host, want) in [
        ("*.bar.com", "baz.bar.com", true),
        ("*.bar.com", "multiple.prefixes.bar.com", true),
        ("*.bar.com", "bar.com", false),
        ("*.foo.com", "foo.com", false),
        ("*.wildcard.io", "wildcard.io", false),
        ("*.wildcard.io", "foo.bar.wildcard.io", true),
        ("*.wildcard.io", "xwildcard.io", false),
        ("bar.com", "bar.com", true),
        ("bar.com", "foo.bar.com", false),
        ("", "anything.at.all", true),
    ] {
        assert_eq!(p(pattern).matches(host), want, "{pattern} vs {host}");
    }
}

#[test]
fn httproute_hostname_intersection() {
    for (listener, route, want) in [
        (
            "very.specific.com",
            "very.specific.com",
            Some("very.specific.com"),
        ),
        (
            "very.specific.com",
            "*.specific.com",
            Some("very.specific.com"),
        ),
        ("very.specific.com", "non.matching.com", None),
        ("very.specific.com", "*.nonmatchingwildcard.io", None),
        ("*.wildcard.io", "foo.wildcard.io", Some("foo.wildcard.io")),
        (
            "*.wildcard.io",
            "foo.bar.wildcard.io",
            Some("foo.bar.wildcard.io"),
        ),
        ("*.wildcard.io", "wildcard.io", None),
        (
            "*.anotherwildcard.io",
            "*.anotherwildcard.io",
            Some("*.anotherwildcard.io"),
        ),
        (
            "*.example.com",
            "*.foo.example.com",
            Some("*.foo.example.com"),
        ),
        (
            "*.foo.example.com",
            "*.example.com",
            Some("*.foo.example.com"),
        ),
        ("*.example.com", "*.example.net", None),
        ("", "first.com", Some("first.com")),
        ("", "*.first.com", Some("*.first.com")),
        ("bar.com", "", Some("bar.com")),
        ("", "", Some("")),
    ] {
        let got = p(listener).intersect(&p(route));
        assert_eq!(got, want.map(p), "{listener} ∩ {route}");
        // Intersection does not depend on which side is the listener.
        assert_eq!(
            p(route).intersect(&p(listener)),
            want.map(p),
            "{route} ∩ {listener}"
        );
    }
}

#[test]
fn index_prefers_exact_then_longest_wildcard_then_any() {
    let mut index = HostIndex::default();
    for (pattern, v) in [
        ("*.com", 1),
        ("*.bar.com", 2),
        ("foo.bar.com", 3),
        ("", 4),
        ("*.x.bar.com", 5),
    ] {
        *index.entry(&p(pattern), || 0) = v;
    }
    for (host, want) in [
        ("foo.bar.com", Some(3)),
        ("baz.bar.com", Some(2)),
        ("a.x.bar.com", Some(5)),
        ("x.bar.com", Some(2)),
        ("bar.com", Some(1)),
        ("example.org", Some(4)),
    ] {
        assert_eq!(index.get(host).copied(), want, "{host}");
    }
    let mut no_any: HostIndex<i32> = HostIndex::default();
    *no_any.entry(&p("bar.com"), || 0) = 1;
    assert_eq!(no_any.get("foo.com"), None);
}
