//! `GET /v2/<name>/tags/list` and `GET /v2/_catalog`: sorted lists with `n` / `last` paging.

use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

use super::{finish, header_value, Ctx, HandlerResult};
use crate::body::RegistryBody;
use crate::error::{ErrorCode, RegistryError};
use crate::protocol::name::{is_valid_name, is_valid_tag};

/// One page of a sorted list, and whether more follow it.
struct Page<'a> {
    items: &'a [String],
    more: bool,
}

/// `n` (capped at `cap`) and `last` applied to a sorted list.
fn page<'a>(all: &'a [String], n: Option<usize>, last: Option<&str>, cap: usize) -> Page<'a> {
    let start = match last {
        // Strictly after `last`, which need not be in the list.
        Some(last) => all.partition_point(|item| item.as_str() <= last),
        None => 0,
    };
    let rest = all.get(start..).unwrap_or_default();
    let take = n.unwrap_or(usize::MAX).min(cap).min(rest.len());
    Page {
        items: rest.get(..take).unwrap_or_default(),
        // `n=0` asks for nothing and gets no Link.
        more: take < rest.len() && n != Some(0),
    }
}

fn parse_n(ctx: &Ctx<'_>) -> Result<Option<usize>, RegistryError> {
    match ctx.param("n")? {
        None => Ok(None),
        // All digits but too big for usize means "everything".
        Some(raw) if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(raw.parse::<usize>().unwrap_or(usize::MAX)))
        }
        Some(raw) => Err(RegistryError::new(
            ErrorCode::Unsupported,
            "`n` must be a non-negative integer",
        )
        .with_status(StatusCode::BAD_REQUEST)
        .with_detail(serde_json::json!({ "n": raw.as_ref() }))),
    }
}

/// `{"name": .., "tags": [..]}`, serialized from the borrowed page.
#[derive(Serialize)]
struct TagList<'a> {
    name: &'a str,
    tags: &'a [String],
}

/// `{"repositories": [..]}`.
#[derive(Serialize)]
struct Catalog<'a> {
    repositories: &'a [String],
}

fn json_page(
    body: impl Serialize,
    page: &Page<'_>,
    link_base: &str,
    n: Option<usize>,
    cap: usize,
) -> HandlerResult {
    let body = serde_json::to_string(&body).map_err(|e| RegistryError::internal(&e))?;
    let mut builder = http::Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )
        .header(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if page.more {
        if let Some(last) = page.items.last() {
            let n = n.unwrap_or(cap).min(cap);
            builder = builder.header(
                header::LINK,
                header_value(&format!("<{link_base}?n={n}&last={last}>; rel=\"next\""))?,
            );
        }
    }
    finish(builder, RegistryBody::full(body))
}

pub(super) async fn list(ctx: &Ctx<'_>, name: &str) -> HandlerResult {
    let n = parse_n(ctx)?;
    let last = ctx.param("last")?;
    let last = last.as_deref();
    if let Some(last) = last {
        if !is_valid_tag(last) {
            return Err(
                RegistryError::new(ErrorCode::Unsupported, "`last` must be a tag")
                    .with_status(StatusCode::BAD_REQUEST)
                    .with_detail(serde_json::json!({ "last": last })),
            );
        }
    }
    let Some(tags) = ctx.storage().list_tags(name).await? else {
        return Err(RegistryError::from_code(ErrorCode::NameUnknown)
            .with_detail(serde_json::json!({ "name": name })));
    };
    let cap = ctx.config.page_cap;
    let page = page(&tags, n, last, cap);
    json_page(
        TagList {
            name,
            tags: page.items,
        },
        &page,
        &format!("/v2/{name}/tags/list"),
        n,
        cap,
    )
}

pub(super) async fn catalog(ctx: &Ctx<'_>) -> HandlerResult {
    let n = parse_n(ctx)?;
    let last = ctx.param("last")?;
    let last = last.as_deref();
    if let Some(last) = last {
        if !is_valid_name(last) {
            return Err(RegistryError::new(
                ErrorCode::NameInvalid,
                "`last` must be a repository name",
            ));
        }
    }
    let repos = ctx.storage().list_repositories().await?;
    let cap = ctx.config.page_cap;
    let page = page(&repos, n, last, cap);
    let body = Catalog {
        repositories: page.items,
    };
    json_page(body, &page, "/v2/_catalog", n, cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pages_follow_last_and_cap() {
        let all = list(&["a", "b", "c", "d"]);
        let p = page(&all, Some(2), None, 100);
        assert_eq!((p.items, p.more), (&all[..2], true));
        let p = page(&all, Some(2), Some("b"), 100);
        assert_eq!((p.items, p.more), (&all[2..], false));
        let p = page(&all, None, Some("bb"), 100);
        assert_eq!(p.items, &all[2..]);
        let p = page(&all, None, None, 3);
        assert_eq!((p.items.len(), p.more), (3, true));
        let p = page(&all, Some(0), None, 100);
        assert_eq!((p.items.len(), p.more), (0, false));
        let p = page(&all, Some(9), Some("z"), 100);
        assert_eq!((p.items.len(), p.more), (0, false));
    }
}
