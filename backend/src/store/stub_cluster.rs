//! TEMPORARY (until the pg-store branch lands): the store reads the cluster
//! layer uses. Deleted at merge.
use super::{Appended, ChannelKey, Store, StoreError, TokenHash};

impl Store {
    pub async fn heads(
        &self,
        _keys: Vec<ChannelKey>,
    ) -> Result<Vec<(ChannelKey, u64)>, StoreError> {
        Err(StoreError::Closed)
    }
    pub async fn published(
        &self,
        _key: ChannelKey,
        _after: u64,
        _upto: u64,
    ) -> Result<Vec<Appended>, StoreError> {
        Err(StoreError::Closed)
    }
    pub fn forget_session(&self, _token: &TokenHash) {}
}
