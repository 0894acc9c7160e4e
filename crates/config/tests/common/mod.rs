//! Helpers shared by the configuration check tests.

use ringway_config::from_yaml_str;

/// Asserts that the configuration has exactly one error, at `path`, whose message contains
/// `message`.
#[track_caller]
pub(crate) fn assert_rejected(yaml: &str, path: &str, message: &str) {
    let errors = from_yaml_str(yaml).expect_err("accepted").0;
    assert_eq!(
        errors.len(),
        1,
        "expected one error:\n{errors:#?}\nin:\n{yaml}"
    );
    assert_eq!(errors[0].path, path, "{errors:#?}");
    assert!(
        errors[0].message.contains(message),
        "message {:?} lacks {message:?}",
        errors[0].message
    );
}

/// One test per rejected value: `name: yaml => path, message fragment;`.
#[macro_export]
macro_rules! rejects {
    ($($test:ident: $yaml:expr => $path:expr, $message:expr;)*) => {
        $(
            #[test]
            fn $test() {
                let yaml = $yaml;
                $crate::common::assert_rejected(yaml.as_ref(), $path, $message);
            }
        )*
    };
}
