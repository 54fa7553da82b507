//! The files maas keeps for itself (in the data directory, and its ingest manifests),
//! opened only as the user's own: never through a link, never a FIFO or a device (which
//! would hang a read or never end it), never a file another user owns. Another user who
//! could once write the directory (it was made before maas, open to others) could
//! otherwise have planted a link there — to the journal of their own, to a file of the
//! user's that a write would overwrite — or an operator token of their choosing.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// The user maas runs as (its effective id); 0 where there are no such ids.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn me() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
pub fn me() -> u32 {
    0
}

/// The owner of what `meta` describes.
#[cfg(unix)]
pub fn owner(meta: &Metadata) -> u32 {
    use std::os::unix::fs::MetadataExt;
    meta.uid()
}

#[cfg(not(unix))]
pub fn owner(_meta: &Metadata) -> u32 {
    0
}

/// Whether `meta` (read without following a link) is a regular file of the user's; the
/// error says what it is otherwise.
pub fn check(path: &Path, meta: &Metadata) -> std::io::Result<()> {
    let what = if meta.file_type().is_symlink() {
        Some("a symbolic link (maas never follows links among its own files)")
    } else if !meta.is_file() {
        Some("not a regular file (a directory, a FIFO, a socket or a device)")
    } else {
        None
    };
    if let Some(what) = what {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("{} is {what}", path.display()),
        ));
    }
    mine(path, meta)
}

/// Whether what `meta` describes at `path` belongs to the user maas runs as; the error
/// names its owner otherwise.
fn mine(path: &Path, meta: &Metadata) -> std::io::Result<()> {
    if owner(meta) == me() {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "{} belongs to another user (uid {}, maas runs as uid {})",
            path.display(),
            owner(meta),
            me()
        ),
    ))
}

/// Checks what is at `path`, if anything, with [`check`].
pub fn check_path(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => check(path, &meta),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Options that open neither through a link nor wait on a FIFO.
fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        options.mode(0o600);
    }
    options
}

/// Opens `options` at `path` and checks the file opened (see [`check`]); a link there
/// is refused by the kernel (`ELOOP`), and said so.
fn open(path: &Path, options: &OpenOptions) -> std::io::Result<File> {
    let file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return Error::new(
                ErrorKind::InvalidData,
                format!(
                    "{} is a symbolic link (maas never follows links among its own files)",
                    path.display()
                ),
            );
        }
        e
    })?;
    check(path, &file.metadata()?)?;
    Ok(file)
}

/// The bytes of the user's own file at `path`, `None` when there is none; more than
/// `most` bytes is an error (`InvalidData`).
pub fn read(path: &Path, most: u64) -> std::io::Result<Option<Vec<u8>>> {
    let file = match open(path, options().read(true)) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(most.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > most {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("{} is larger than {most} bytes", path.display()),
        ));
    }
    Ok(Some(bytes))
}

/// [`read`] as text (not UTF-8 is `InvalidData`).
pub fn read_text(path: &Path, most: u64) -> std::io::Result<Option<String>> {
    read(path, most)?
        .map(|bytes| String::from_utf8(bytes).map_err(|e| Error::new(ErrorKind::InvalidData, e)))
        .transpose()
}

/// The user's own file at `path` opened to read (its length is not bounded: for files
/// read in parts, such as the state image), `None` when there is none.
pub fn open_read(path: &Path) -> std::io::Result<Option<File>> {
    match open(path, options().read(true)) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The user's own file at `path` opened to write (created 0600 if missing, its
/// permissions made 0600 if wider), appended to or cut to nothing.
pub fn open_write(path: &Path, append: bool) -> std::io::Result<File> {
    let mut options = options();
    options.create(true).write(true);
    if append {
        options.append(true);
    }
    let file = open(path, &options)?;
    if !append {
        file.set_len(0)?;
    }
    restrict(&file)?;
    Ok(file)
}

/// A new file at `path`, 0600 from its creation. Whatever is there already — what a
/// killed process left under the same temporary name, or a link another user planted —
/// is removed first (the name, never what a link leads to).
pub fn create_new(path: &Path) -> std::io::Result<File> {
    let mut options = options();
    options.write(true).create_new(true);
    match options.open(path) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            std::fs::remove_file(path)?;
            options.open(path)
        }
        opened => opened,
    }
}

/// Makes `file` owner-only (0600) if it grants more.
#[cfg(unix)]
fn restrict(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if file.metadata()?.permissions().mode() & 0o7177 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_file: &File) -> std::io::Result<()> {
    Ok(())
}

/// Makes `file`, opened with `O_NONBLOCK` so that opening it could not wait, blocking
/// again for the caller's reads and writes.
#[cfg(unix)]
fn blocking(file: &File) {
    use std::os::fd::AsRawFd;
    #[allow(unsafe_code)]
    // SAFETY: fcntl on a descriptor the caller owns, with flags read from it.
    unsafe {
        let fd = file.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
}

/// A file the user named on the command line (a token file, an export's output), opened
/// with `options` and checked before anything is read or written: it must be the user's
/// own, whatever it is (a regular file, a FIFO, a pipe such as `<(…)`), and a link is
/// not followed when `follow` is false. It is opened without waiting (a FIFO another
/// user planted would hang the open), then made blocking again for the caller.
pub fn open_named(path: &Path, options: &mut OpenOptions, follow: bool) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
        options.custom_flags(libc::O_NONBLOCK | nofollow);
        let file = options.open(path)?;
        mine(path, &file.metadata()?)?;
        blocking(&file);
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        let _ = follow;
        options.open(path)
    }
}

/// A file the user named for maas to write (an export, a benchmark's report, a generated
/// history), readable by its owner only whether new or replaced: never opened through a
/// link, never a file or FIFO of another user's (a link or a name in a shared directory
/// such as /tmp could have been set up to be either), never waited on (a FIFO nobody
/// reads is refused). A regular file of the user's is cut to nothing and made 0600, or,
/// if others could read it, replaced by a new file (an export written over a 0644 file
/// another user held open was read through that descriptor); a FIFO or device of the
/// user's is written as it is.
pub fn create_named(path: &Path) -> std::io::Result<File> {
    // The directory it goes in, reached through no other user's link: one in /tmp led an
    // output named inside it into a directory of the user's (`datadir::resolve_checked`).
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::datadir::resolve_checked(parent)
            .map_err(|e| Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // What was refused is named: the kernel itself refuses to follow another user's
        // link in a sticky directory such as /tmp (EACCES, with fs.protected_symlinks).
        let link = || std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        let file = open_named(path, &mut options, false).map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::EACCES) if link() => Error::new(
                ErrorKind::InvalidData,
                format!(
                    "{} is a symbolic link (maas does not write through a link: name the file itself)",
                    path.display()
                ),
            ),
            Some(libc::ENXIO) => Error::new(
                ErrorKind::InvalidData,
                format!(
                    "{} is a FIFO nobody reads (maas does not wait on one)",
                    path.display()
                ),
            ),
            _ => e,
        })?;
        // An existing file keeps its mode on open; a device or a pipe is left as it is.
        let meta = file.metadata()?;
        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            // Readable by others until now: whoever opened it then could read what is
            // written through the same file whatever its mode becomes, so a new file takes
            // its name (created afresh, never through what another user put there since).
            drop(file);
            std::fs::remove_file(path)?;
            let mut fresh = OpenOptions::new();
            fresh.write(true).create_new(true).mode(0o600);
            return open_named(path, &mut fresh, false);
        }
        if meta.is_file() {
            file.set_len(0)?;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options.truncate(true);
        options.open(path)
    }
}

/// A new directory of the user's own, 0700, under `parent`, named `prefix` and 128
/// random bits, made by this call alone (`mkdir` fails on a name taken, and another is
/// drawn): a name another user could foresee (a process id) could be taken first in a
/// shared directory such as /tmp, by a directory holding links of theirs, or by
/// thousands of them.
pub fn private_dir(parent: &Path, prefix: &str) -> std::io::Result<std::path::PathBuf> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    for _ in 0..16 {
        let mut bits = [0u8; 16];
        getrandom::fill(&mut bits).map_err(|e| Error::other(e.to_string()))?;
        let hex: String = bits.iter().map(|b| format!("{b:02x}")).collect();
        let dir = parent.join(format!("{prefix}{hex}"));
        match builder.create(&dir) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
            Ok(()) => return Ok(dir),
        }
    }
    Err(Error::new(
        ErrorKind::AlreadyExists,
        format!("{}: 16 random names in a row were taken", parent.display()),
    ))
}

/// The bytes of the file the user named at `path` (see [`open_input`]), at most `most`:
/// a longer one is an error naming the bound (a link to `/dev/zero` named as a plugin
/// took 4.2 GB in 4 s, as a TLS certificate 3.1 GB; another user's FIFO hung the read).
pub fn read_input(path: &Path, most: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    open_input(path)?
        .take(most.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > most {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!(
                "{} is over {most} bytes, the most read from it",
                path.display()
            ),
        ));
    }
    Ok(bytes)
}

/// A file the user named for maas to read (an export to import, documents to ingest),
/// followed if a link (the user named what it leads to) and opened without waiting: a
/// FIFO, socket or device is read only if it is the user's own (a pipe such as `<(zcat
/// …)` is), for one another user planted at that name would hang the read (a FIFO no
/// one writes) or never end it (`/dev/zero`). A regular file may be anyone's the user
/// can read; the caller bounds what it reads.
pub fn open_input(path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            if meta.is_dir() {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("{} is a directory", path.display()),
                ));
            }
            mine(path, &meta).map_err(|e| {
                Error::new(
                    e.kind(),
                    format!("{e}, and it is not a regular file (a FIFO, a socket or a device)"),
                )
            })?;
        }
        blocking(&file);
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        File::open(path)
    }
}

/// A directory of maas's own at `dir` (not a link, the user's), created 0700 if
/// missing and made 0700 if it grants more.
pub fn dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    match builder.create(dir) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        created => created?,
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!(
                "{} is not a directory (maas never follows links among its own files)",
                dir.display()
            ),
        ));
    }
    mine(dir, &meta)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o7077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("maas-owned-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn links_fifos_and_oversized_files_are_refused_and_never_followed() {
        let d = scratch("links");
        let target = d.join("target");
        std::fs::write(&target, "keep me").unwrap();
        let link = d.join("link");
        symlink(&target, &link).unwrap();
        assert!(read(&link, 100).is_err());
        assert!(open_write(&link, false).is_err());
        assert!(open_write(&link, true).is_err());
        assert!(check_path(&link).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        // A temporary name taken by a link: the link goes, the file it led to stays.
        let mut f = create_new(&link).unwrap();
        std::io::Write::write_all(&mut f, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "new");
        // A FIFO is not waited on.
        let fifo = d.join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        assert!(read(&fifo, 100).is_err());
        assert!(open_write(&fifo, true).is_err());
        // Bounded, and missing is none.
        std::fs::write(d.join("big"), "x".repeat(101)).unwrap();
        assert!(read(&d.join("big"), 100).is_err());
        assert_eq!(read(&d.join("missing"), 100).unwrap(), None);
        // Written files are owner-only, whatever they were.
        std::fs::set_permissions(d.join("big"), std::fs::Permissions::from_mode(0o666)).unwrap();
        drop(open_write(&d.join("big"), true).unwrap());
        let mode = std::fs::metadata(d.join("big"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_named_output_is_never_written_through_a_link_nor_waited_on() {
        let d = scratch("named");
        let target = d.join("target");
        std::fs::write(&target, "keep me").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = d.join("BENCHMARKS.md");
        symlink(&target, &link).unwrap();
        let e = create_named(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        let fifo = d.join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = create_named(&fifo).unwrap_err().to_string();
        assert!(e.contains("FIFO nobody reads"), "{e}");
        // A file of the user's is replaced and made private; a new one is private.
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(create_named(&target).unwrap());
        let meta = std::fs::metadata(&target).unwrap();
        assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (0, 0o600));
        drop(create_named(&d.join("new")).unwrap());
        let mode = std::fs::metadata(d.join("new"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// An output named inside another user's link to a directory is refused, whatever
    /// the directory it leads to (the user's own here).
    #[cfg(unix)]
    #[test]
    fn a_named_output_through_another_users_directory_link_is_refused() {
        use std::os::unix::fs::{PermissionsExt, lchown};
        let d = scratch("dirlink");
        let project = d.join("project");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join("BENCHMARKS.md"), "mine").unwrap();
        let shared = d.join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let link = shared.join("benchout");
        symlink(&project, &link).unwrap();
        // Another user's link (as root, the test can make one).
        if lchown(&link, Some(65534), Some(65534)).is_err() {
            let _ = std::fs::remove_dir_all(&d);
            return;
        }
        let e = create_named(&link.join("BENCHMARKS.md"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("another user's"), "{e}");
        assert_eq!(
            std::fs::read_to_string(project.join("BENCHMARKS.md")).unwrap(),
            "mine"
        );
        // The user's own link is followed.
        std::fs::remove_file(&link).unwrap();
        symlink(&project, &link).unwrap();
        drop(create_named(&link.join("new.md")).unwrap());
        assert!(project.join("new.md").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A descriptor opened while the file was readable by others reads nothing written
    /// after: the file is replaced, not cut and written through again.
    #[test]
    fn a_named_output_others_could_read_is_replaced_not_rewritten() {
        use std::io::{Read, Write};
        let d = scratch("held");
        let path = d.join("export.jsonl");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut held = File::open(&path).unwrap();
        create_named(&path)
            .unwrap()
            .write_all(b"secret history")
            .unwrap();
        let mut seen = String::new();
        held.read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "old", "the held descriptor sees the old file only");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "secret history");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A named input is read up to its bound and no further: `/dev/zero` named through
    /// a link is an error naming the bound, not gigabytes read.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_named_input_is_read_within_its_bound() {
        let d = scratch("bounded");
        std::fs::write(d.join("small"), "pem").unwrap();
        assert_eq!(read_input(&d.join("small"), 3).unwrap(), b"pem");
        symlink("/dev/zero", d.join("zero")).unwrap();
        let e = read_input(&d.join("zero"), 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(e.contains("over 1048576 bytes"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_named_input_of_another_users_that_is_not_a_regular_file_is_refused() {
        let d = scratch("input");
        std::fs::write(d.join("file"), "text").unwrap();
        let mut text = String::new();
        open_input(&d.join("file"))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "text");
        // The user's own FIFO is opened without waiting for a writer.
        let fifo = d.join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        assert!(open_input(&fifo).is_ok());
        // A device of root's (or another user's), as a link planted at the name leads to.
        if me() != 0 {
            let e = open_input(Path::new("/dev/zero")).unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{e}");
        } else if std::os::unix::fs::chown(&fifo, Some(65534), None).is_ok() {
            let e = open_input(&fifo).unwrap_err().to_string();
            assert!(e.contains("belongs to another user"), "{e}");
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_private_directory_gets_a_name_nobody_could_take_first() {
        let d = scratch("private");
        let a = private_dir(&d, "maas-bench-").unwrap();
        let b = private_dir(&d, "maas-bench-").unwrap();
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), "maas-bench-".len() + 32, "{name}");
        let mode = std::fs::metadata(&a).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_directory_of_its_own_is_made_private_and_a_link_is_refused() {
        let d = scratch("dirs");
        let sub = d.join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        dir(&sub).unwrap();
        let mode = std::fs::metadata(&sub).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        symlink(&sub, d.join("linked")).unwrap();
        assert!(dir(&d.join("linked")).is_err());
        dir(&d.join("fresh")).unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }
}
