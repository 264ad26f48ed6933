//! The default GatewayClass: created at start-up when absent, so a cluster
//! with only fedway-proxy installed has a class for the hub to map
//! Gateways to. An existing class (anyone's) is never changed.

use gateway_api::gatewayclasses::{GatewayClass, GatewayClassSpec};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};

use super::{Error, FIELD_MANAGER};

/// Creates GatewayClass `name` with `controller_name` unless it exists.
pub async fn ensure(client: &Client, name: &str, controller_name: &str) -> Result<(), Error> {
    let api: Api<GatewayClass> = Api::all(client.clone());
    let failed = |source| Error::Class {
        name: name.to_owned(),
        source: Box::new(source),
    };
    if api.get_opt(name).await.map_err(failed)?.is_some() {
        return Ok(());
    }
    let class = GatewayClass {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        spec: GatewayClassSpec {
            controller_name: controller_name.to_owned(),
            description: Some("Fedway's fallback Gateway API implementation".to_owned()),
            parameters_ref: None,
        },
        status: None,
    };
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..Default::default()
    };
    match api.create(&params, &class).await {
        Ok(_) => {
            tracing::info!(class = name, "GatewayClass created");
            Ok(())
        }
        // Someone else created it meanwhile: theirs stands.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(failed(e)),
    }
}
