//! Configuration keys as an enum: what every adapter's `…ConfigKey` repeats (the list of
//! keys, their names, parsing a name with the vendor's prefixes and aliases, the environment
//! variable of each), written once as [`config_keys!`](crate::config_keys), and the value
//! parsers the adapters' `set` functions share.

use crate::error::{Error, Result};

/// Parses a configuration key's name: trimmed, in any case, `-` read as `_`, with or without
/// the environment prefix (`CRM_HUBSPOT_BASE_URL`, `hubspot_base_url`, `base-url`), an alias
/// read as the key it stands for. An unknown name is a `Config` error naming it.
///
/// The function behind the `FromStr` of a [`config_keys!`](crate::config_keys) enum.
pub fn parse_config_key<K: Copy + AsRef<str>>(
    name: &str,
    vendor: &str,
    env_prefix: &str,
    aliases: &[(&str, &str)],
    keys: &[K],
) -> Result<K> {
    let text = name.trim().to_ascii_lowercase().replace('-', "_");
    let prefix = env_prefix.to_ascii_lowercase();
    let short = prefix.strip_prefix("crm_").unwrap_or(&prefix);
    let text = text
        .strip_prefix(prefix.as_str())
        .or_else(|| text.strip_prefix(short))
        .unwrap_or(&text);
    let text = aliases
        .iter()
        .find(|(alias, _)| *alias == text)
        .map_or(text, |(_, key)| *key);
    keys.iter()
        .copied()
        .find(|k| k.as_ref() == text)
        .ok_or_else(|| Error::config(format!("unknown {vendor} configuration key `{name}`")))
}

/// A boolean setting's value: `true yes on 1` or `false no off 0` in any case; anything else is
/// a `Config` error naming `key` (the value is not secret: it failed to be a boolean).
pub fn parse_flag(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(Error::config(format!("{key}: `{value}` is not a boolean"))),
    }
}

/// A numeric setting's value, or a `Config` error naming `key`.
pub fn parse_number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| Error::config(format!("{key}: `{value}` is not a valid number")))
}

/// Declares an adapter's configuration keys: the enum, `ALL` (every key, in order), `ALIASES`,
/// `as_str`/`AsRef<str>` (the key's name), `env_var` (`<env prefix><NAME>`), and `FromStr`
/// through [`parse_config_key`] (prefixes, case, `-`, aliases). The enum derives `Debug`,
/// `Clone`, `Copy`, `PartialEq`, `Eq` and `Hash` and is `#[non_exhaustive]`; attributes given
/// before `enum` are kept (docs, more derives).
///
/// ```
/// crm_core::config_keys! {
///     /// A configuration key of the Acme adapter.
///     pub enum AcmeKey {
///         vendor: "Acme",
///         env_prefix: "CRM_ACME_",
///         aliases: { "url" => "base_url" },
///         /// `base_url`.
///         BaseUrl = "base_url",
///         /// `token`.
///         Token = "token",
///     }
/// }
/// assert_eq!("CRM_ACME_URL".parse::<AcmeKey>()?, AcmeKey::BaseUrl);
/// assert_eq!(AcmeKey::Token.env_var(), "CRM_ACME_TOKEN");
/// assert_eq!(AcmeKey::ALL.len(), 2);
/// assert!("tokn".parse::<AcmeKey>().is_err());
/// # Ok::<(), crm_core::Error>(())
/// ```
#[macro_export]
macro_rules! config_keys {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            vendor: $vendor:literal,
            env_prefix: $prefix:literal,
            aliases: { $($alias:literal => $target:literal),* $(,)? },
            $( $(#[$key_meta:meta])* $key:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        $vis enum $name {
            $( $(#[$key_meta])* $key ),+
        }

        impl $name {
            /// Every key.
            pub const ALL: [$name; [$(stringify!($key)),+].len()] = [$($name::$key),+];

            /// Other names a key is known by: `(alias, key)`.
            pub const ALIASES: &'static [(&'static str, &'static str)] = &[$(($alias, $target)),*];

            /// The key's name (`base_url`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$key => $text ),+
                }
            }

            /// The environment variable of this key.
            pub fn env_var(self) -> String {
                format!("{}{}", $prefix, self.as_str().to_ascii_uppercase())
            }

            /// Every key whose environment variable is set, with its value.
            pub fn from_env() -> Vec<($name, String)> {
                Self::ALL
                    .into_iter()
                    .filter_map(|k| Some((k, ::std::env::var(k.env_var()).ok()?)))
                    .collect()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::Error;
            fn from_str(s: &str) -> $crate::Result<Self> {
                $crate::raw::parse_config_key(
                    s,
                    $vendor,
                    $prefix,
                    Self::ALIASES,
                    &Self::ALL,
                )
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys as an adapter declares them (`pub`, as in an adapter's crate).
    #[allow(unreachable_pub)]
    mod acme {
        crate::config_keys! {
            /// Test keys.
            pub enum Key {
                vendor: "Acme",
                env_prefix: "CRM_ACME_TEST_UNSET_",
                aliases: { "url" => "base_url" },
                /// `base_url`.
                BaseUrl = "base_url",
                /// `token`.
                Token = "token",
            }
        }
    }
    use acme::Key;

    #[test]
    fn config_keys_parse_with_prefixes_case_dashes_and_aliases() {
        for k in Key::ALL {
            assert_eq!(k.as_str().parse::<Key>().unwrap(), k);
        }
        for name in [
            "CRM_ACME_TEST_UNSET_BASE_URL",
            "acme_test_unset_base_url",
            "Base-Url",
            " url ",
        ] {
            assert_eq!(name.parse::<Key>().unwrap(), Key::BaseUrl, "{name}");
        }
        let err = "tokn".parse::<Key>().unwrap_err();
        assert_eq!(err.message(), "unknown Acme configuration key `tokn`");
        assert_eq!(Key::Token.env_var(), "CRM_ACME_TEST_UNSET_TOKEN");
        assert_eq!(Key::ALIASES, &[("url", "base_url")]);
        assert!(Key::from_env().is_empty(), "no such variable is set");
    }

    #[test]
    fn flags_and_numbers_name_the_key() {
        assert!(parse_flag("k", " Yes ").unwrap());
        assert!(!parse_flag("k", "0").unwrap());
        assert!(
            parse_flag("k", "maybe")
                .unwrap_err()
                .message()
                .starts_with("k:")
        );
        assert_eq!(parse_number::<u8>("n", "42").unwrap(), 42);
        assert!(parse_number::<u8>("n", "300").is_err());
    }
}
