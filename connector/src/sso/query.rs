//! `application/x-www-form-urlencoded`: the query strings and form bodies of OAuth requests,
//! and the parameters added to redirect addresses.

/// The pairs of a query string or form body. Malformed escapes are kept as written; a
/// repeated parameter is kept twice (and [`one`] then refuses it).
pub fn parse(text: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(text).into_owned().collect()
}

/// The value of a parameter given exactly once and not empty; `None` otherwise, as OAuth
/// requires a repeated parameter to be refused.
pub fn one<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut found = params.iter().filter(|(k, _)| k == name);
    match (found.next(), found.next()) {
        (Some((_, value)), None) if !value.is_empty() => Some(value),
        _ => None,
    }
}

/// `base` with the pairs added to its query.
pub fn append<'a>(base: &str, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    encoded.extend_pairs(pairs);
    let encoded = encoded.finish();
    if encoded.is_empty() {
        return base.to_owned();
    }
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_or_empty_parameters_count_as_absent() {
        let params = parse(b"a=1&b=2&b=3&c=&d=x%20y+z");
        assert_eq!(one(&params, "a"), Some("1"));
        assert_eq!(one(&params, "b"), None);
        assert_eq!(one(&params, "c"), None);
        assert_eq!(one(&params, "d"), Some("x y z"));
        assert_eq!(one(&params, "e"), None);
    }

    #[test]
    fn parameters_join_an_existing_query() {
        let pairs = [("code", "a b"), ("state", "s&t")];
        assert_eq!(
            append("https://app/cb", pairs.into_iter()),
            "https://app/cb?code=a+b&state=s%26t"
        );
        assert_eq!(
            append("https://app/cb?x=1", [("code", "c")].into_iter()),
            "https://app/cb?x=1&code=c"
        );
        assert_eq!(
            append("https://app/cb", std::iter::empty()),
            "https://app/cb"
        );
    }
}
