//! Proof that the request parsers allocate nothing: a counting global allocator (this test
//! binary only) watches thousands of generated valid and invalid paths, queries, ranges and
//! digests go through the parsers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::cell::Cell;
use std::hint::black_box;

use tower_oci::protocol::is_valid_upload_id;
use tower_oci::protocol::percent_decode;
use tower_oci::protocol::{is_valid_name, is_valid_tag};
use tower_oci::protocol::{ByteRange, ContentRange, DigestRef, Endpoint, Query};

struct Counting;

thread_local! {
    // Only allocations made by the thread under test count, so the harness's own threads
    // cannot disturb the figure. Const-initialised without Drop: safe to touch in `alloc`.
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    if WATCHING.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the only addition is a counter.
// (`unsafe` is unavoidable here: `GlobalAlloc` is an unsafe trait.)
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts the allocations `f` makes on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    WATCHING.with(|w| w.set(true));
    f();
    WATCHING.with(|w| w.set(false));
    ALLOCATIONS.with(Cell::get)
}

const D256: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A small deterministic generator (xorshift), so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    /// Replaces, inserts or deletes one character.
    fn mutate(&mut self, s: &str) -> String {
        let mut chars: Vec<char> = s.chars().collect();
        let at = (self.next() % (chars.len() as u64 + 1)) as usize;
        let c =
            ['A', '/', '%', '.', '_', '-', ':', 'z', '9', '\u{e9}'][(self.next() % 10) as usize];
        match self.next() % 3 {
            0 => chars.insert(at, c),
            1 if at < chars.len() => chars[at] = c,
            _ if at < chars.len() => {
                chars.remove(at);
            }
            _ => chars.push(c),
        }
        chars.into_iter().collect()
    }
}

fn corpus_paths(rng: &mut Rng) -> Vec<String> {
    let names = [
        "a",
        "library/ubuntu",
        "a/blobs/b",
        "my-org/my__app.v2/x--y",
        "manifests/tags/list",
        "UPPER",
        "a//b",
        "a/./b",
        "",
    ];
    let long = "ab/".repeat(85) + "c"; // 256 bytes
    let longest = "a".repeat(255);
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let tails = [
        "tags/list".to_owned(),
        "tags/list/".to_owned(),
        "manifests/latest".to_owned(),
        "manifests/bad:tag!".to_owned(),
        format!("manifests/{D256}"),
        "manifests/md5:abc".to_owned(),
        format!("blobs/{D256}"),
        "blobs/sha256:xyz".to_owned(),
        "blobs/uploads/".to_owned(),
        "blobs/uploads".to_owned(),
        format!("blobs/uploads/{id}"),
        "blobs/uploads/nope".to_owned(),
        format!("referrers/{D256}"),
        "nothing/here".to_owned(),
    ];
    let mut paths = vec![
        "/v2".to_owned(),
        "/v2/".to_owned(),
        "/v2/_catalog".to_owned(),
        "/elsewhere".to_owned(),
    ];
    for name in names
        .iter()
        .copied()
        .chain([long.as_str(), longest.as_str()])
    {
        for tail in &tails {
            paths.push(format!("/v2/{name}/{tail}"));
        }
    }
    let seeds = paths.clone();
    for _ in 0..4000 {
        let seed = &seeds[(rng.next() % seeds.len() as u64) as usize];
        let mut path = rng.mutate(seed);
        if rng.next().is_multiple_of(2) {
            path = rng.mutate(&path);
        }
        paths.push(path);
    }
    paths
}

fn corpus_queries(rng: &mut Rng) -> Vec<String> {
    let pairs = [
        "digest=sha256%3Aabc",
        "digest-algorithm=sha512",
        "mount=sha256:abc",
        "from=library%2Fubuntu",
        "n=10",
        "last=v1.0",
        "artifactType=application%2Fvnd.example%2Bjson",
        "tag=a",
        "tag=b",
        "ns=docker.io",
        "bare",
        "",
        "=x",
    ];
    (0..2000)
        .map(|_| {
            let count = rng.next() % 6;
            (0..count)
                .map(|_| rng.pick(&pairs))
                .collect::<Vec<_>>()
                .join("&")
        })
        .collect()
}

fn corpus_headers(rng: &mut Rng) -> Vec<String> {
    let seeds = [
        "bytes=0-499",
        "bytes=500-",
        "bytes=-500",
        "bytes=-0",
        "bytes=0-1,2-3",
        "bytes=5-4",
        "bytes=18446744073709551616-",
        "0-1023",
        "bytes 0-1023/*",
        "bytes 0-1023/1024",
        "bytes */1024",
        " bytes 1-2/3 ",
    ];
    (0..2000)
        .map(|i| {
            let seed = rng.pick(&seeds);
            if i % 2 == 0 {
                seed.to_owned()
            } else {
                rng.mutate(seed)
            }
        })
        .collect()
}

fn corpus_digests(rng: &mut Rng) -> Vec<String> {
    let sha512 = format!("sha512:{}", "ab".repeat(64));
    let seeds = [
        D256,
        sha512.as_str(),
        "md5:abc",
        "sha256:abc",
        "SHA256:ab",
        "a+b.c:x=y",
    ];
    (0..2000)
        .map(|i| {
            let seed = rng.pick(&seeds);
            if i % 2 == 0 {
                seed.to_owned()
            } else {
                rng.mutate(seed)
            }
        })
        .collect()
}

#[test]
fn parsers_allocate_nothing() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let paths = corpus_paths(&mut rng);
    let queries = corpus_queries(&mut rng);
    let headers = corpus_headers(&mut rng);
    let digests = corpus_digests(&mut rng);
    let total = paths.len() + queries.len() + headers.len() + digests.len();
    assert!(total > 10_000, "corpus too small: {total}");

    let mut accepted = 0usize;
    let mut rejected = 0usize;
    let mut tally = |ok: bool| if ok { accepted += 1 } else { rejected += 1 };
    let allocations = allocations_in(|| {
        for path in &paths {
            let parsed = black_box(Endpoint::parse(black_box(path)));
            tally(parsed.is_ok());
            if let Ok(ep) = parsed {
                black_box(ep.name());
            }
        }
        for raw in &queries {
            let q = Query::new(Some(black_box(raw)));
            for key in [
                "digest",
                "digest-algorithm",
                "mount",
                "from",
                "n",
                "last",
                "artifactType",
                "ns",
            ] {
                tally(black_box(q.get(key)).is_some());
            }
            tally(black_box(q.get_all("tag").count()) > 0);
            for (key, value) in q.pairs() {
                // Values without escapes must come back borrowed.
                if !value.contains('%') {
                    tally(matches!(
                        percent_decode(black_box(value)),
                        Some(Cow::Borrowed(_))
                    ));
                }
                tally(is_valid_tag(black_box(key)));
                tally(is_valid_name(black_box(value)));
            }
        }
        for header in &headers {
            let range = black_box(ByteRange::parse(black_box(header)));
            tally(range.and_then(|r| r.resolve(black_box(1000))).is_some());
            tally(black_box(ContentRange::parse(black_box(header))).is_some());
        }
        for text in &digests {
            tally(black_box(DigestRef::parse(black_box(text))).is_ok());
            tally(is_valid_upload_id(black_box(text)));
        }
    });
    assert_eq!(allocations, 0, "the parsers allocated {allocations} times");
    // The corpus must exercise both sides of every parser, or the proof says little.
    assert!(
        accepted > 2_000 && rejected > 2_000,
        "accepted {accepted}, rejected {rejected}"
    );
    let path_hits = paths.iter().filter(|p| Endpoint::parse(p).is_ok()).count();
    println!(
        "{total} inputs ({} paths, {path_hits} accepted), {accepted} accepts / {rejected} rejects, 0 allocations",
        paths.len()
    );
    assert!(
        path_hits > 200 && paths.len() - path_hits > 2_000,
        "{path_hits} of {} paths",
        paths.len()
    );
}

#[test]
fn the_counter_counts() {
    // A check on the check: an allocation inside the watched closure is seen.
    let n = allocations_in(|| {
        black_box(String::from("x"));
    });
    assert_eq!(n, 1);
    let decoded = allocations_in(|| {
        black_box(percent_decode("a%20b"));
    });
    assert!(decoded >= 1);
}
