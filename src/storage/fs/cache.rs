//! In-memory read caches over the on-disk metadata, kept coherent with it.
//!
//! Disk is the source of truth; every write goes through this process, so a cache only has to
//! stay coherent with this process's own writes. The rules that make it so:
//!
//! - Writers of one key are serialised by a [`KeyLocks`] stripe held across the disk write and
//!   the cache update, so the last disk write is also the last cache write.
//! - Writers always store their outcome, including "absent" (never just evict), and overwrite.
//! - Readers that missed note the cache's generation, read disk, then insert only if the key is
//!   still missing and the generation has not moved. A writer that finished in between left an
//!   entry, and a clear in between bumped the generation, so a stale read is never inserted.
//! - When full, the whole map is cleared and the generation bumped (crude, but bounded and
//!   obviously correct; the working set of hot tags is small).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::protocol::Digest;

/// A cache of `key -> Option<V>` (`None` = known absent) with the protocol described above.
#[derive(Debug)]
pub(super) struct Cache<V> {
    inner: Mutex<Inner<V>>,
    capacity: usize,
}

#[derive(Debug)]
struct Inner<V> {
    map: HashMap<String, Option<V>>,
    generation: u64,
}

/// What a reader gets on a miss: the generation to hand back to [`Cache::fill`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Miss(u64);

impl<V: Clone> Cache<V> {
    pub(super) fn new(capacity: usize) -> Self {
        Cache {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                generation: 0,
            }),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        // A panic while holding this lock cannot leave the map half-updated in a way that
        // matters (every operation is a single insert or clear), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Ok(value)` on a hit (`None` = known absent), `Err(miss)` otherwise.
    pub(super) fn get(&self, key: &str) -> Result<Option<V>, Miss> {
        let inner = self.lock();
        match inner.map.get(key) {
            Some(v) => Ok(v.clone()),
            None => Err(Miss(inner.generation)),
        }
    }

    /// A reader's insert after reading disk; ignored if a writer or a clear came in between.
    pub(super) fn fill(&self, key: String, value: Option<V>, miss: Miss) {
        let mut inner = self.lock();
        if inner.generation != miss.0 || inner.map.contains_key(&key) {
            return;
        }
        Self::make_room(&mut inner, self.capacity);
        inner.map.insert(key, value);
    }

    /// A writer's update, made while holding the key's [`KeyLocks`] stripe, after the disk write.
    pub(super) fn set(&self, key: String, value: Option<V>) {
        let mut inner = self.lock();
        if !inner.map.contains_key(&key) {
            Self::make_room(&mut inner, self.capacity);
        }
        inner.map.insert(key, value);
    }

    /// Forgets `key` after a write that failed part way (disk state unknown); readers in
    /// flight lose their fill, since the generation moves.
    pub(super) fn invalidate(&self, key: &str) {
        let mut inner = self.lock();
        inner.map.remove(key);
        inner.generation += 1;
    }

    fn make_room(inner: &mut Inner<V>, capacity: usize) {
        if inner.map.len() >= capacity {
            inner.map.clear();
            inner.generation += 1;
        }
    }
}

/// Cache key of tag `tag` of `repo`. `:` appears in neither names nor tags.
pub(super) fn tag_key(repo: &str, tag: &str) -> String {
    let mut key = String::with_capacity(repo.len() + 1 + tag.len());
    key.push_str(repo);
    key.push(':');
    key.push_str(tag);
    key
}

/// Cache key of manifest `digest` of `repo`. `@` appears in neither names nor digests.
pub(super) fn manifest_key(repo: &str, digest: &Digest) -> String {
    let mut key = String::with_capacity(repo.len() + 1 + digest.as_str().len());
    key.push_str(repo);
    key.push('@');
    key.push_str(digest.as_str());
    key
}

/// How many stripes [`KeyLocks`] has.
const STRIPES: usize = 64;

/// Striped async locks serialising writers of one key (a repository's metadata, an upload
/// session's record), held across disk I/O, hence tokio's mutex. Unrelated keys rarely share a
/// stripe. Guards are owned, so a write can move its guard into the blocking task that does
/// it: a caller that stops waiting (a client gone) does not release the lock while the write
/// still runs.
#[derive(Debug)]
pub(super) struct KeyLocks {
    stripes: [Arc<tokio::sync::Mutex<()>>; STRIPES],
}

/// A held [`KeyLocks`] stripe.
pub(super) type KeyGuard = tokio::sync::OwnedMutexGuard<()>;

impl KeyLocks {
    pub(super) fn new() -> Self {
        KeyLocks {
            stripes: std::array::from_fn(|_| Arc::new(tokio::sync::Mutex::new(()))),
        }
    }

    pub(super) async fn lock(&self, key: &str) -> KeyGuard {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        // Truncating the hash is fine: any bits pick a stripe.
        let index = hasher.finish() as usize % STRIPES;
        Arc::clone(&self.stripes[index]).lock_owned().await
    }
}

/// Striped locks over blob content, taken on blocking threads: a garbage collector's
/// touched-time check and delete of one content file hold one, and so does every touch and
/// every move of new content into place, so a touch never lands between the check and the
/// delete, and a delete never removes content moved into place after its check.
#[derive(Debug)]
pub(super) struct ContentLocks {
    stripes: [Mutex<()>; STRIPES],
}

impl ContentLocks {
    pub(super) fn new() -> Self {
        ContentLocks {
            stripes: std::array::from_fn(|_| Mutex::new(())),
        }
    }

    /// Holds the stripe of `digest`. The guarded sections are a few system calls that leave
    /// nothing half-done in memory, so poisoning is ignored.
    pub(super) fn lock(&self, digest: &Digest) -> MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        digest.as_str().hash(&mut hasher);
        let index = hasher.finish() as usize % STRIPES;
        self.stripes[index]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// Manifest bytes by digest. Content-addressed data never changes, so any copy is coherent;
/// the repository's link (checked separately) decides whether it may be served.
#[derive(Debug)]
pub(super) struct ContentCache {
    inner: Mutex<ContentInner>,
    max_total: usize,
    max_entry: usize,
}

#[derive(Debug, Default)]
struct ContentInner {
    map: HashMap<Digest, Bytes>,
    total: usize,
}

impl ContentCache {
    pub(super) fn new(max_total: usize, max_entry: usize) -> Self {
        ContentCache {
            inner: Mutex::new(ContentInner::default()),
            max_total,
            max_entry,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ContentInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn get(&self, digest: &Digest) -> Option<Bytes> {
        self.lock().map.get(digest).cloned()
    }

    /// Forgets deleted content.
    pub(super) fn remove(&self, digest: &Digest) {
        let mut inner = self.lock();
        if let Some(bytes) = inner.map.remove(digest) {
            inner.total -= bytes.len();
        }
    }

    pub(super) fn insert(&self, digest: &Digest, bytes: &Bytes) {
        if bytes.len() > self.max_entry {
            return;
        }
        let mut inner = self.lock();
        if inner.map.contains_key(digest) {
            return;
        }
        if inner.total + bytes.len() > self.max_total {
            inner.map.clear();
            inner.total = 0;
        }
        inner.total += bytes.len();
        inner.map.insert(digest.clone(), bytes.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_fill_loses_to_writer_and_clear() {
        let cache = Cache::<u32>::new(1);
        let miss = cache.get("a").unwrap_err();
        cache.set("a".into(), Some(2));
        cache.fill("a".into(), Some(1), miss);
        assert_eq!(cache.get("a").unwrap(), Some(2));

        let miss = cache.get("b").unwrap_err();
        cache.set("c".into(), None); // full: clears and bumps the generation
        cache.fill("b".into(), Some(1), miss);
        assert!(cache.get("b").is_err());
        assert_eq!(cache.get("c").unwrap(), None);

        let miss = cache.get("b").unwrap_err();
        cache.fill("b".into(), Some(7), miss);
        assert_eq!(cache.get("b").unwrap(), Some(7));
    }

    #[test]
    fn content_cache_is_bounded() {
        let cache = ContentCache::new(10, 6);
        let a = Digest::of(crate::protocol::Algorithm::Sha256, b"a");
        let b = Digest::of(crate::protocol::Algorithm::Sha256, b"b");
        let c = Digest::of(crate::protocol::Algorithm::Sha256, b"c");
        cache.insert(&a, &Bytes::from_static(b"123456"));
        cache.insert(&c, &Bytes::from_static(b"1234567"));
        assert!(cache.get(&c).is_none());
        cache.insert(&b, &Bytes::from_static(b"12345"));
        assert!(cache.get(&a).is_none());
        assert_eq!(cache.get(&b).unwrap(), Bytes::from_static(b"12345"));
    }
}
