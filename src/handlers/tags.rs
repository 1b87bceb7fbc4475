//! `GET /v2/<name>/tags/list` and `GET /v2/_catalog`: sorted lists with `n` / `last` paging.

use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

use super::{build_response, header_value, Ctx, HandlerResult};
use crate::error::{ErrorCode, RegistryError};
use crate::protocol::name::{is_valid_name, is_valid_tag};
use crate::response_body::RegistryBody;
use crate::storage::{ListOptions, Page};

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

/// `{"name": .., "tags": [..]}`, serialized from the page.
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

/// How many entries to ask storage for: `n` capped at the page cap (`n=0` asks for none).
fn limit(n: Option<usize>, cap: usize) -> usize {
    n.unwrap_or(cap).min(cap)
}

fn json_page(
    body: impl Serialize,
    page: &Page<String>,
    link_base: &str,
    limit: usize,
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
            builder = builder.header(
                header::LINK,
                header_value(&format!(
                    "<{link_base}?n={limit}&last={last}>; rel=\"next\""
                ))?,
            );
        }
    }
    build_response(builder, RegistryBody::full(body))
}

pub(super) async fn list(ctx: &Ctx<'_>, name: &str) -> HandlerResult {
    let n = parse_n(ctx)?;
    let last = ctx.param("last")?;
    if let Some(last) = last.as_deref() {
        if !is_valid_tag(last) {
            return Err(
                RegistryError::new(ErrorCode::Unsupported, "`last` must be a tag")
                    .with_status(StatusCode::BAD_REQUEST)
                    .with_detail(serde_json::json!({ "last": last })),
            );
        }
    }
    let limit = limit(n, ctx.config.page_cap);
    let options = ListOptions::new(last.map(|l| l.into_owned()), limit);
    let page = match ctx.storage().list_tags(name, options).await {
        Ok(page) => page,
        Err(e) if e.is_not_found() => {
            return Err(RegistryError::from_code(ErrorCode::NameUnknown)
                .with_detail(serde_json::json!({ "name": name })))
        }
        Err(e) => return Err(e.into()),
    };
    let body = TagList {
        name,
        tags: &page.items,
    };
    json_page(body, &page, &format!("/v2/{name}/tags/list"), limit)
}

pub(super) async fn catalog(ctx: &Ctx<'_>) -> HandlerResult {
    let n = parse_n(ctx)?;
    let last = ctx.param("last")?;
    if let Some(last) = last.as_deref() {
        if !is_valid_name(last) {
            return Err(RegistryError::new(
                ErrorCode::NameInvalid,
                "`last` must be a repository name",
            ));
        }
    }
    let limit = limit(n, ctx.config.page_cap);
    let after = last.map(|l| l.into_owned());
    let page = if ctx.guarded() {
        visible_repositories(ctx, after, limit).await?
    } else {
        ctx.storage()
            .list_repositories(ListOptions::new(after, limit))
            .await?
    };
    let body = Catalog {
        repositories: &page.items,
    };
    json_page(body, &page, "/v2/_catalog", limit)
}

/// One catalog page of the repositories the principal may pull, after `after`: storage pages
/// are read and filtered until `limit` visible ones and one more (so `more` is exact and a
/// `Link` never leads to an empty page) are found, or the listing ends.
async fn visible_repositories(
    ctx: &Ctx<'_>,
    mut after: Option<String>,
    limit: usize,
) -> Result<Page<String>, RegistryError> {
    let mut visible = Vec::new();
    if limit == 0 {
        return Ok(Page::new(visible, false));
    }
    let batch = ctx.config.page_cap.max(1);
    loop {
        let page = ctx
            .storage()
            .list_repositories(ListOptions::new(after.take(), batch))
            .await?;
        for repo in &page.items {
            if ctx.may_pull(repo).await {
                if visible.len() == limit {
                    return Ok(Page::new(visible, true));
                }
                visible.push(repo.clone());
            }
        }
        match page.items.last() {
            Some(last) if page.more => after = Some(last.clone()),
            _ => return Ok(Page::new(visible, false)),
        }
    }
}
