//! The state every handler receives.

use std::ops::Deref;
use std::sync::Arc;

use bouquet_store::Platform;
use bouquet_store::worker::Registry;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::module::Module;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub platform: Platform,
    pub modules: Vec<Arc<dyn Module>>,
    pub registry: Arc<Registry>,
    pub metrics: PrometheusHandle,
}

impl AppState {
    pub fn new(
        platform: Platform,
        modules: Vec<Arc<dyn Module>>,
        registry: Arc<Registry>,
        metrics: PrometheusHandle,
    ) -> Self {
        Self(Arc::new(Inner {
            platform,
            modules,
            registry,
            metrics,
        }))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
