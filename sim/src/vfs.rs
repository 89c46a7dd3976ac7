//! An in-memory SQLite VFS that injects the faults a real disk has, deterministically.
//!
//! Each file keeps what reads see and, in order, the writes and truncations made since its
//! last successful `xSync` with what each replaced, so a crash can undo them. The faults, each decided by the simulator's seeded generator:
//!
//! - a write fails (`SQLITE_IOERR_WRITE`), changing nothing;
//! - an fsync fails (`SQLITE_IOERR_FSYNC`): nothing becomes durable;
//! - a crash ([`crash`]) keeps what was durable plus a random prefix of the writes made since
//!   (unsynced writes lost), the last one of which may be torn (only its first bytes land).
//!
//! Locking is a no-op (one engine, `locking_mode=EXCLUSIVE`, so SQLite never asks for shared
//! memory); randomness and time come from the simulator, so a run depends on its seed alone.
//!
//! Written against `libsqlite3-sys`'s own bindings (re-exported by rusqlite): the VFS crates
//! that exist need `bindgen` and libclang at build time, which CI machines do not have.

use parking_lot::Mutex;
use rand::{RngExt, SeedableRng};
use rusqlite::ffi;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, OnceLock};

/// The name the VFS is registered under.
pub const NAME: &str = "tollgate-sim";

/// A change made since the last sync, with what it replaced (to undo it at a crash).
#[derive(Debug, Clone)]
enum Op {
    /// At, the bytes written, the file's length before, the bytes overwritten.
    Write(usize, Vec<u8>, usize, Vec<u8>),
    /// The bytes cut off.
    Truncate(Vec<u8>),
}

/// One file: what reads see, and the changes since the last sync, in order (a sync forgets
/// them; a crash undoes a suffix of them).
#[derive(Debug, Default)]
struct FileData {
    current: Vec<u8>,
    pending: Vec<Op>,
}

impl FileData {
    fn write(&mut self, at: usize, data: &[u8]) {
        let before = self.current.len();
        let end = at + data.len();
        let overwritten = self.current[at.min(before)..end.min(before)].to_vec();
        if self.current.len() < end {
            self.current.resize(end, 0);
        }
        self.current[at..end].copy_from_slice(data);
        self.pending
            .push(Op::Write(at, data.to_vec(), before, overwritten));
    }

    fn truncate(&mut self, n: usize) {
        if n >= self.current.len() {
            self.pending.push(Op::Truncate(Vec::new()));
            return;
        }
        let cut = self.current.split_off(n);
        self.pending.push(Op::Truncate(cut));
    }

    /// Undo the last pending change.
    fn undo(&mut self) {
        match self.pending.pop() {
            Some(Op::Write(at, _, before, overwritten)) => {
                let end = at + overwritten.len();
                self.current[at..end].copy_from_slice(&overwritten);
                self.current.truncate(before);
            }
            Some(Op::Truncate(cut)) => self.current.extend_from_slice(&cut),
            None => {}
        }
    }
}

/// How often each fault strikes (probabilities per call), and what has struck so far.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// A write fails.
    pub write_error: f64,
    /// An fsync fails.
    pub sync_error: f64,
    /// At a crash, the last surviving unsynced write is torn.
    pub torn_tail: f64,
}

/// What the disk did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Writes that failed.
    pub write_errors: u64,
    /// Fsyncs that failed.
    pub sync_errors: u64,
    /// Unsynced writes lost at crashes.
    pub lost_writes: u64,
    /// Writes torn at crashes.
    pub torn_writes: u64,
    /// Fsyncs that succeeded.
    pub syncs: u64,
}

struct Disk {
    files: HashMap<String, Arc<Mutex<FileData>>>,
    /// Between a crash and [`power_on`]: the process that had the files open is dead, so
    /// nothing it still tries to write (closing its connection) reaches the disk.
    dead: bool,
    faults: Faults,
    counts: Counts,
    rng: rand::rngs::StdRng,
}

fn disk() -> &'static Mutex<Disk> {
    static DISK: OnceLock<Mutex<Disk>> = OnceLock::new();
    DISK.get_or_init(|| {
        Mutex::new(Disk {
            files: HashMap::new(),
            dead: false,
            faults: Faults::default(),
            counts: Counts::default(),
            rng: rand::rngs::StdRng::seed_from_u64(0),
        })
    })
}

/// Start afresh: no files, the given faults, a generator seeded with `seed`.
pub fn reset(seed: u64, faults: Faults) {
    register();
    let mut d = disk().lock();
    d.files.clear();
    d.dead = false;
    d.faults = faults;
    d.counts = Counts::default();
    d.rng = rand::rngs::StdRng::seed_from_u64(seed);
}

/// Every file's bytes (with nothing pending: take it with no connection open).
#[derive(Debug, Clone, Default)]
pub struct Snapshot(Vec<(String, Vec<u8>)>);

/// The disk's files as they are now.
pub fn snapshot() -> Snapshot {
    let d = disk().lock();
    let mut files: Vec<(String, Vec<u8>)> = d
        .files
        .iter()
        .map(|(n, f)| (n.clone(), f.lock().current.clone()))
        .collect();
    files.sort();
    Snapshot(files)
}

/// Replace the disk's files with a snapshot's (durable, nothing pending).
pub fn restore(s: &Snapshot) {
    let mut d = disk().lock();
    d.files.clear();
    for (n, bytes) in &s.0 {
        d.files.insert(
            n.clone(),
            Arc::new(Mutex::new(FileData {
                current: bytes.clone(),
                pending: Vec::new(),
            })),
        );
    }
}

/// Change the faults from now on (e.g. none while the simulator reopens after a crash).
pub fn set_faults(faults: Faults) {
    disk().lock().faults = faults;
}

/// What the disk did since the last [`reset`].
pub fn counts() -> Counts {
    disk().lock().counts
}

/// The disk works again after a [`crash`] (the next process opens its files).
pub fn power_on() {
    disk().lock().dead = false;
}

fn dead() -> bool {
    disk().lock().dead
}

/// Power loss: every file keeps what was durable plus a random prefix of its unsynced writes,
/// the last of which may be torn. Until [`power_on`] nothing more is written: close the dead
/// process's connections in between.
pub fn crash() {
    let mut d = disk().lock();
    d.dead = true;
    let files: Vec<Arc<Mutex<FileData>>> = {
        let mut names: Vec<&String> = d.files.keys().collect();
        names.sort();
        names.iter().map(|n| Arc::clone(&d.files[*n])).collect()
    };
    for f in files {
        let mut f = f.lock();
        let keep = d.rng.random_range(0..=f.pending.len());
        let lost = f.pending.len() - keep;
        let torn = match f.pending.get(keep) {
            Some(Op::Write(at, data, _, _)) if !data.is_empty() => {
                let torn_tail = d.faults.torn_tail;
                d.rng
                    .random_bool(torn_tail)
                    .then(|| (*at, data[..d.rng.random_range(0..data.len())].to_vec()))
            }
            _ => None,
        };
        while f.pending.len() > keep {
            f.undo();
        }
        if let Some((at, part)) = torn {
            f.write(at, &part);
            d.counts.torn_writes += 1;
        }
        d.counts.lost_writes += lost as u64;
        f.pending.clear();
    }
}

/// Does a fault of this probability strike now?
fn strikes(which: fn(&Faults) -> f64) -> bool {
    let mut d = disk().lock();
    let p = which(&d.faults);
    p > 0.0 && d.rng.random_bool(p.min(1.0))
}

#[repr(C)]
struct SimFile {
    base: ffi::sqlite3_file,
    data: *const Mutex<FileData>,
}

/// The file behind a handle SQLite gives back.
///
/// # Safety
/// `f` is a `SimFile` opened by `x_open` and not closed.
unsafe fn data<'a>(f: *mut ffi::sqlite3_file) -> &'a Mutex<FileData> {
    // SAFETY: the caller's contract: `data` came from `Arc::into_raw` and lives until close.
    unsafe { &*(*(f as *mut SimFile)).data }
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: a file of ours; its Arc was leaked by `x_open` and is reclaimed once here.
    unsafe {
        let sim = f as *mut SimFile;
        drop(Arc::from_raw((*sim).data));
        (*sim).data = std::ptr::null();
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_read(
    f: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    // SAFETY: SQLite passes a buffer of `amount` bytes and a file of ours.
    let (out, file) = unsafe {
        (
            std::slice::from_raw_parts_mut(buf as *mut u8, amount as usize),
            data(f).lock(),
        )
    };
    let at = offset as usize;
    let have = file.current.len().saturating_sub(at).min(out.len());
    if have > 0 {
        out[..have].copy_from_slice(&file.current[at..at + have]);
    }
    if have < out.len() {
        out[have..].fill(0);
        return ffi::SQLITE_IOERR_SHORT_READ;
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    if dead() {
        return ffi::SQLITE_IOERR_WRITE;
    }
    if strikes(|x| x.write_error) {
        disk().lock().counts.write_errors += 1;
        return ffi::SQLITE_IOERR_WRITE;
    }
    // SAFETY: SQLite passes `amount` readable bytes and a file of ours.
    let (bytes, mut file) = unsafe {
        (
            std::slice::from_raw_parts(buf as *const u8, amount as usize).to_vec(),
            data(f).lock(),
        )
    };
    file.write(offset as usize, &bytes);
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    if dead() {
        return ffi::SQLITE_IOERR_TRUNCATE;
    }
    // SAFETY: a file of ours.
    let mut file = unsafe { data(f).lock() };
    file.truncate(size as usize);
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_sync(f: *mut ffi::sqlite3_file, _flags: c_int) -> c_int {
    if dead() {
        return ffi::SQLITE_IOERR_FSYNC;
    }
    if strikes(|x| x.sync_error) {
        disk().lock().counts.sync_errors += 1;
        return ffi::SQLITE_IOERR_FSYNC;
    }
    // SAFETY: a file of ours.
    let mut file = unsafe { data(f).lock() };
    file.pending.clear();
    drop(file);
    disk().lock().counts.syncs += 1;
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_file_size(
    f: *mut ffi::sqlite3_file,
    size: *mut ffi::sqlite3_int64,
) -> c_int {
    // SAFETY: a file of ours and a writable output.
    unsafe { *size = data(f).lock().current.len() as ffi::sqlite3_int64 };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_lock(_f: *mut ffi::sqlite3_file, _level: c_int) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_check_reserved_lock(_f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    // SAFETY: a writable output.
    unsafe { *out = 0 };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_file_control(
    _f: *mut ffi::sqlite3_file,
    _op: c_int,
    _arg: *mut c_void,
) -> c_int {
    ffi::SQLITE_NOTFOUND
}

unsafe extern "C" fn x_sector_size(_f: *mut ffi::sqlite3_file) -> c_int {
    4096
}

unsafe extern "C" fn x_device_characteristics(_f: *mut ffi::sqlite3_file) -> c_int {
    0
}

static IO: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_lock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// A path SQLite gives (NULL for a temporary file).
///
/// # Safety
/// `p` is NULL or NUL-terminated.
unsafe fn path(p: *const c_char) -> Option<String> {
    // SAFETY: the caller's contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    f: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite's arguments: NULL or a path, and room for a `SimFile`.
    unsafe {
        let sim = f as *mut SimFile;
        (*sim).base.pMethods = std::ptr::null();
        let file = match path(name) {
            None => Arc::new(Mutex::new(FileData::default())),
            Some(n) => {
                let mut d = disk().lock();
                match d.files.get(&n) {
                    Some(existing) => Arc::clone(existing),
                    None if flags & ffi::SQLITE_OPEN_CREATE != 0 => {
                        let fresh = Arc::new(Mutex::new(FileData::default()));
                        d.files.insert(n, Arc::clone(&fresh));
                        fresh
                    }
                    None => return ffi::SQLITE_CANTOPEN,
                }
            }
        };
        (*sim).data = Arc::into_raw(file);
        (*sim).base.pMethods = &IO;
        if !out_flags.is_null() {
            *out_flags = flags;
        }
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_delete(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    _sync: c_int,
) -> c_int {
    // SAFETY: a NUL-terminated path.
    if let Some(n) = unsafe { path(name) } {
        disk().lock().files.remove(&n);
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_access(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    _flags: c_int,
    out: *mut c_int,
) -> c_int {
    // SAFETY: a NUL-terminated path and a writable output.
    unsafe {
        let exists = path(name).is_some_and(|n| {
            disk()
                .lock()
                .files
                .get(&n)
                .is_some_and(|f| !f.lock().current.is_empty())
        });
        *out = c_int::from(exists);
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_full_pathname(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    // SAFETY: `name` is NUL-terminated and `out` has room for `n` bytes.
    unsafe {
        let src = CStr::from_ptr(name).to_bytes_with_nul();
        if src.len() > n as usize {
            return ffi::SQLITE_CANTOPEN;
        }
        std::ptr::copy_nonoverlapping(src.as_ptr() as *const c_char, out, src.len());
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_randomness(
    _vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    // SAFETY: `out` has room for `n` bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(out as *mut u8, n as usize) };
    let mut d = disk().lock();
    for b in buf.iter_mut() {
        *b = d.rng.random();
    }
    n
}

unsafe extern "C" fn x_sleep(_vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    micros
}

unsafe extern "C" fn x_current_time(_vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    // SAFETY: a writable output. A fixed instant: SQL time functions are not used for money.
    unsafe { *out = 2_461_041.5 };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_get_last_error(
    _vfs: *mut ffi::sqlite3_vfs,
    _n: c_int,
    _out: *mut c_char,
) -> c_int {
    0
}

/// Register the VFS with SQLite (once per process).
pub fn register() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let name: &'static CStr = c"tollgate-sim";
        let vfs = Box::new(ffi::sqlite3_vfs {
            iVersion: 1,
            szOsFile: std::mem::size_of::<SimFile>() as c_int,
            mxPathname: 512,
            pNext: std::ptr::null_mut(),
            zName: name.as_ptr(),
            pAppData: std::ptr::null_mut(),
            xOpen: Some(x_open),
            xDelete: Some(x_delete),
            xAccess: Some(x_access),
            xFullPathname: Some(x_full_pathname),
            xDlOpen: None,
            xDlError: None,
            xDlSym: None,
            xDlClose: None,
            xRandomness: Some(x_randomness),
            xSleep: Some(x_sleep),
            xCurrentTime: Some(x_current_time),
            xGetLastError: Some(x_get_last_error),
            xCurrentTimeInt64: None,
            xSetSystemCall: None,
            xGetSystemCall: None,
            xNextSystemCall: None,
        });
        let raw = Box::into_raw(vfs);
        // SAFETY: a complete VFS that lives for the rest of the process.
        let rc = unsafe {
            ffi::sqlite3_initialize();
            ffi::sqlite3_vfs_register(raw, 0)
        };
        // The VFS lives for the rest of the process (SQLite keeps the pointer).
        assert_eq!(rc, ffi::SQLITE_OK, "registering the simulator's VFS");
    });
}
