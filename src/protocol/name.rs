//! Repository names and tags, exactly as the distribution spec's grammar gives them.

/// The longest repository name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most
/// [`MAX_NAME_LEN`] bytes.
pub fn is_valid_name(name: &str) -> bool {
    let _ = name;
    todo!("protocol helper")
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let _ = tag;
    todo!("protocol helper")
}
