//! SDK clients per region, built once and reused for the life of the process (one Lambda
//! cold start). Responses act in the region the event names (a security group in
//! `eu-west-1`, a digest signed in `us-east-2`).

use aws_config::SdkConfig;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// Clients of one service, by region, built on demand from the shared SDK configuration:
/// `RegionalClients::new(sdk, aws_sdk_ec2::Client::new)`.
pub struct RegionalClients<C> {
    sdk: SdkConfig,
    make: Box<dyn Fn(&SdkConfig) -> C + Send + Sync>,
    clients: Mutex<HashMap<String, C>>,
}

impl<C: Clone> RegionalClients<C> {
    /// `make` builds a client from a configuration (`aws_sdk_ec2::Client::new`,
    /// [`super::s3_client`]).
    pub fn new(sdk: &SdkConfig, make: impl Fn(&SdkConfig) -> C + Send + Sync + 'static) -> Self {
        RegionalClients {
            sdk: sdk.clone(),
            make: Box::new(make),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `region`, or for the configuration's own region when `None` (or empty).
    pub fn get(&self, region: Option<&str>) -> C {
        let region = region.map(str::trim).filter(|r| !r.is_empty());
        let key = region.unwrap_or("").to_string();
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key)
            .or_insert_with(|| match region {
                Some(r) => (self.make)(&super::with_region(&self.sdk, r)),
                None => (self.make)(&self.sdk),
            })
            .clone()
    }

    /// The client for `region`.
    pub fn region(&self, region: &str) -> C {
        self.get(Some(region))
    }

    /// The shared configuration the clients are built from.
    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// The regions a client has been built for so far (the default region as `""`).
    pub fn built(&self) -> Vec<String> {
        let map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<String> = map.keys().cloned().collect();
        v.sort();
        v
    }
}

impl<C> fmt::Debug for RegionalClients<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let regions: Vec<String> = self
            .clients
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("RegionalClients")
            .field("regions", &regions)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn clients_are_built_once_per_region() {
        let sdk = SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let built = Arc::new(AtomicUsize::new(0));
        let counter = built.clone();
        let clients = RegionalClients::new(&sdk, move |c: &SdkConfig| {
            counter.fetch_add(1, Ordering::SeqCst);
            c.region().map(|r| r.to_string()).unwrap_or_default()
        });
        assert_eq!(clients.region("eu-west-1"), "eu-west-1");
        assert_eq!(clients.get(Some("eu-west-1")), "eu-west-1");
        assert_eq!(clients.get(None), "us-east-1");
        assert_eq!(clients.get(Some(" ")), "us-east-1");
        assert_eq!(clients.region("ap-south-1"), "ap-south-1");
        assert_eq!(built.load(Ordering::SeqCst), 3);
        assert_eq!(clients.built(), vec!["", "ap-south-1", "eu-west-1"]);
        let ec2_like: RegionalClients<aws_sdk_s3::Client> =
            RegionalClients::new(&sdk, aws_sdk_s3::Client::new);
        let _ = ec2_like.region("eu-west-1");
        assert!(format!("{ec2_like:?}").contains("eu-west-1"));
    }
}
