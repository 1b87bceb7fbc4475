//! `GET /v2/<name>/referrers/<digest>[?artifactType=]`: the manifests whose subject is `digest`.

use http::{header, HeaderValue, StatusCode};

use super::{finish, Ctx, HandlerResult};
use crate::body::RegistryBody;

use crate::manifest::OCI_INDEX;
use crate::protocol::DigestRef;

pub(super) async fn list(ctx: &Ctx<'_>, name: &str, digest: DigestRef<'_>) -> HandlerResult {
    let filter = ctx.param("artifactType")?;
    // An unknown repository or subject has no referrers: 200 with an empty index, never 404.
    let referrers = ctx
        .storage()
        .list_referrers(name, &digest.to_digest())
        .await?;
    let manifests: Vec<serde_json::Value> = referrers
        .into_iter()
        .filter(|r| match &filter {
            Some(want) => r.artifact_type.as_deref() == Some(want.as_ref()),
            None => true,
        })
        .map(|r| {
            let mut d = serde_json::Map::new();
            d.insert("mediaType".into(), r.media_type.into());
            d.insert("digest".into(), r.digest.as_str().into());
            d.insert("size".into(), r.size.into());
            if let Some(t) = r.artifact_type {
                d.insert("artifactType".into(), t.into());
            }
            if let Some(a) = r
                .annotations
                .and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok())
            {
                d.insert("annotations".into(), a);
            }
            serde_json::Value::Object(d)
        })
        .collect();
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    })
    .to_string();
    let mut builder = http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX))
        .header(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if filter.is_some() {
        builder = builder.header(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    finish(builder, RegistryBody::full(body))
}
