//! Files and directories that hold personal data or secrets: directories 0700, files 0600,
//! whatever the process umask.
//!
//! The ledger and its view hold citizen ids and phone numbers, the keys dir holds private keys,
//! a mirror holds entry bundles, and `licreg issue` writes credentials. A umask of 022 would make
//! all of them world-readable; so every such path is created through here, and a directory a
//! library (sled) fills is tightened after it opens. Modes are set explicitly after creation, so
//! an existing directory or file with a looser mode is tightened too.

use std::fs;
use std::io::Write;
use std::path::Path;

/// Mode of a private directory.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of a private file.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Deepest directory tree [`restrict_tree`] walks (sled's is two levels).
const MAX_TREE_DEPTH: usize = 8;

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Creates `path` (and missing parents, 0700) and makes `path` itself exactly 0700.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR_MODE);
    }
    builder.create(path)?;
    set_mode(path, PRIVATE_DIR_MODE)
}

/// Creates (or truncates) a file readable by its owner only (0600).
pub fn create_private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE_MODE);
    }
    let file = options.open(path)?;
    // An existing file keeps its old mode through `open`; make it private too.
    set_mode(path, PRIVATE_FILE_MODE)?;
    Ok(file)
}

/// Replaces a private file atomically (write 0600, sync, rename).
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = create_private_file(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// Makes every directory under `dir` (and `dir`) 0700 and every file 0600.
pub fn restrict_tree(dir: &Path) -> std::io::Result<()> {
    restrict(dir, 0)
}

fn restrict(dir: &Path, depth: usize) -> std::io::Result<()> {
    set_mode(dir, PRIVATE_DIR_MODE)?;
    if depth >= MAX_TREE_DEPTH {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            restrict(&entry.path(), depth + 1)?;
        } else if kind.is_file() {
            set_mode(&entry.path(), PRIVATE_FILE_MODE)?;
        }
    }
    Ok(())
}

/// The permission bits of `path` (tests and `licreg` checks).
#[cfg(unix)]
pub fn mode_of(path: &Path) -> std::io::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs::metadata(path)?.permissions().mode() & 0o777)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn directories_and_files_are_private_even_when_they_existed_looser() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        fs::create_dir_all(&dir).unwrap();
        set_mode(&dir, 0o755).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode_of(&dir).unwrap(), 0o700);
        let file = dir.join("f");
        fs::write(&file, b"x").unwrap();
        set_mode(&file, 0o644).unwrap();
        write_private_file(&file, b"y").unwrap();
        assert_eq!(mode_of(&file).unwrap(), 0o600);
        let loose = root.path().join("a/loose");
        fs::write(&loose, b"z").unwrap();
        set_mode(&loose, 0o666).unwrap();
        restrict_tree(&root.path().join("a")).unwrap();
        assert_eq!(mode_of(&loose).unwrap(), 0o600);
        assert_eq!(mode_of(&root.path().join("a")).unwrap(), 0o700);
    }
}
