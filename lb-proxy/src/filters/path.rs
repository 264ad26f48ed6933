//! The path part of URLRewrite and RequestRedirect.

use crate::matching::PathMatch;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathModifier {
    ReplaceFullPath(String),
    /// Only valid on rules whose matches are all PathPrefix (checked at compile).
    ReplacePrefixMatch(String),
}

impl PathModifier {
    /// The new path for `path`, which `matched` accepted.
    ///
    /// ReplacePrefixMatch swaps whole segments: the matched prefix without its
    /// trailing `/` is cut, what remains (empty or starting with `/`) is put
    /// after the replacement without its trailing `/`, and an empty result is
    /// `/`. That reproduces every row of the spec's table, e.g. `/foo/` with
    /// prefix `/foo` and replacement `""` gives `/`.
    pub fn apply(&self, path: &str, matched: &PathMatch) -> String {
        match self {
            Self::ReplaceFullPath(p) => p.clone(),
            Self::ReplacePrefixMatch(replacement) => {
                let PathMatch::Prefix { trimmed, .. } = matched else {
                    return path.to_owned();
                };
                let rest = path.get(trimmed.len()..).unwrap_or("");
                let out = format!("{}{rest}", replacement.trim_end_matches('/'));
                if out.is_empty() { "/".to_owned() } else { out }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(v: &str) -> PathMatch {
        PathMatch::Prefix {
            value: v.to_owned(),
            trimmed: v.trim_end_matches('/').to_owned(),
        }
    }

    /// The spec's ReplacePrefixMatch table, then httproute-rewrite-path and
    /// httproute-redirect-path rows.
    #[test]
    fn httproute_rewrite_path_replace_prefix_match() {
        for (path, matched, replacement, want) in [
            ("/foo/bar", "/foo", "/xyz", "/xyz/bar"),
            ("/foo/bar", "/foo", "/xyz/", "/xyz/bar"),
            ("/foo/bar", "/foo/", "/xyz", "/xyz/bar"),
            ("/foo/bar", "/foo/", "/xyz/", "/xyz/bar"),
            ("/foo", "/foo", "/xyz", "/xyz"),
            ("/foo/", "/foo", "/xyz", "/xyz/"),
            ("/foo/bar", "/foo", "", "/bar"),
            ("/foo/", "/foo", "", "/"),
            ("/foo", "/foo", "", "/"),
            ("/foo/", "/foo", "/", "/"),
            ("/foo", "/foo", "/", "/"),
            ("/prefix/one/two", "/prefix/one", "/one", "/one/two"),
            ("/strip-prefix/three", "/strip-prefix", "/", "/three"),
            ("/strip-prefix", "/strip-prefix", "/", "/"),
            (
                "/prefix/rewrite-path-and-modify-headers/one",
                "/prefix/rewrite-path-and-modify-headers",
                "/prefix",
                "/prefix/one",
            ),
            (
                "/original-prefix/lemon",
                "/original-prefix",
                "/replacement-prefix",
                "/replacement-prefix/lemon",
            ),
            (
                "/path-and-host",
                "/path-and-host",
                "/replacement-prefix",
                "/replacement-prefix",
            ),
            ("/a/b", "/", "/xyz", "/xyz/a/b"),
        ] {
            let got =
                PathModifier::ReplacePrefixMatch(replacement.into()).apply(path, &prefix(matched));
            assert_eq!(got, want, "{path} {matched} -> {replacement}");
        }
    }

    #[test]
    fn httproute_rewrite_path_replace_full_path() {
        for (path, replacement, want) in [
            ("/full/one/two", "/one", "/one"),
            (
                "/full/rewrite-path-and-modify-headers/test",
                "/test",
                "/test",
            ),
            (
                "/full/path/original",
                "/full-path-replacement",
                "/full-path-replacement",
            ),
        ] {
            let got =
                PathModifier::ReplaceFullPath(replacement.into()).apply(path, &prefix("/full"));
            assert_eq!(got, want, "{path}");
        }
    }
}
