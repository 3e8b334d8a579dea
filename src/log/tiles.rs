//! The C2SP tlog-tiles codec: tile and entry-bundle paths, and the bundle format. Pure, so the
//! ledger that serves tiles and the mirror that fetches them share one definition.
//!
//! A tile at level `l`, index `n` holds the tree hashes at tree level `8·l` for nodes
//! `n·256 .. n·256+W`. An entry bundle holds entries `n·256 ..` each with a big-endian u16 length
//! prefix. Indexes are written as zero-padded 3-digit elements, all but the last prefixed with
//! `x`; a partial tile or bundle of width W ends in `.p/W`.

/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels one tile level spans.
pub const TILE_HEIGHT: u32 = 8;
/// Highest tile level whose tiles can exist for a 64-bit tree size.
pub const MAX_TILE_LEVEL: u8 = 7;
/// Longest tile path accepted (digits and separators), a bound checked before parsing.
pub const MAX_TILE_PATH_BYTES: usize = 96;

/// What a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    /// `None` for an entry bundle.
    pub level: Option<u8>,
    pub index: u64,
    /// `Some(W)` for a partial tile of width W (1..=255).
    pub width: Option<u16>,
}

/// Why a tile path was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("malformed tile path: {0}")]
pub struct TilePathError(pub &'static str);

impl TilePath {
    /// Parses the part after `tile/`: `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, where `<N>` is
    /// zero-padded 3-digit elements, all but the last prefixed with `x`.
    pub fn parse(path: &str) -> Result<Self, TilePathError> {
        if path.len() > MAX_TILE_PATH_BYTES {
            return Err(TilePathError("too long"));
        }
        let mut parts: Vec<&str> = path.split('/').collect();
        let first = parts.first().copied().ok_or(TilePathError("empty"))?;
        let level = match first {
            "entries" => None,
            text => Some(parse_level(text)?),
        };
        parts.remove(0);
        let width = match parts.as_slice() {
            [.., last, w] if last.ends_with(".p") => {
                let w = parse_width(w)?;
                parts.pop();
                Some(w)
            }
            _ => None,
        };
        let last = parts.pop().ok_or(TilePathError("missing index"))?;
        let last = match width {
            Some(_) => last
                .strip_suffix(".p")
                .ok_or(TilePathError("bad partial suffix"))?,
            None => last,
        };
        let mut index = 0u64;
        for element in &parts {
            let digits = element
                .strip_prefix('x')
                .ok_or(TilePathError("index element lacks x"))?;
            index = push_digits(index, digits)?;
        }
        index = push_digits(index, last)?;
        Ok(TilePath {
            level,
            index,
            width,
        })
    }
}

fn parse_level(text: &str) -> Result<u8, TilePathError> {
    let canonical = text == "0" || !text.starts_with('0');
    match text.parse::<u8>() {
        Ok(level) if canonical && level <= 63 && text.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(level)
        }
        _ => Err(TilePathError("bad level")),
    }
}

fn parse_width(text: &str) -> Result<u16, TilePathError> {
    match text.parse::<u16>() {
        Ok(w)
            if (1..=255).contains(&w)
                && !text.starts_with('0')
                && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(w)
        }
        _ => Err(TilePathError("bad width")),
    }
}

fn push_digits(index: u64, digits: &str) -> Result<u64, TilePathError> {
    if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TilePathError("index elements are three digits"));
    }
    let value: u64 = digits.parse().map_err(|_| TilePathError("bad digits"))?;
    index
        .checked_mul(1000)
        .and_then(|i| i.checked_add(value))
        .ok_or(TilePathError("index too large"))
}

/// The spec's path for index `n`: `x001/x234/067`.
pub fn index_path(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// Why an entry cannot go into a bundle.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("an entry of {0} bytes does not fit a bundle's u16 length prefix")]
pub struct EntryTooLong(pub usize);

/// Appends one entry to a bundle being built.
pub fn push_bundle_entry(bundle: &mut Vec<u8>, entry: &[u8]) -> Result<(), EntryTooLong> {
    let len = u16::try_from(entry.len()).map_err(|_| EntryTooLong(entry.len()))?;
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(entry);
    Ok(())
}

/// Splits a bundle into its entries; `None` if its length prefixes do not add up.
pub fn split_bundle(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        entries.push(tail.get(..len)?);
        rest = tail.get(len..)?;
    }
    rest.is_empty().then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_paths_follow_the_spec() {
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(1067), "x001/067");
        assert_eq!(index_path(1_234_067), "x001/x234/067");
    }

    #[test]
    fn bundles_split_exactly() {
        assert_eq!(
            split_bundle(&[0, 1, 7, 0, 0]).unwrap(),
            vec![&[7u8][..], &[][..]]
        );
        assert!(split_bundle(&[0, 2, 7]).is_none());
        assert!(split_bundle(&[0]).is_none());
    }

    #[test]
    fn bundles_built_entry_by_entry_split_back() {
        let mut bundle = Vec::new();
        for entry in [&b"one"[..], b"", b"three"] {
            push_bundle_entry(&mut bundle, entry).unwrap();
        }
        assert_eq!(
            split_bundle(&bundle).unwrap(),
            vec![&b"one"[..], b"", b"three"]
        );
        assert_eq!(
            push_bundle_entry(&mut bundle, &vec![0; 70_000]),
            Err(EntryTooLong(70_000))
        );
    }

    #[test]
    fn tile_paths_parse_as_the_spec_writes_them() {
        let full = TilePath::parse("0/x001/x234/067").unwrap();
        assert_eq!(
            full,
            TilePath {
                level: Some(0),
                index: 1_234_067,
                width: None
            }
        );
        let partial = TilePath::parse("2/000.p/1").unwrap();
        assert_eq!(
            partial,
            TilePath {
                level: Some(2),
                index: 0,
                width: Some(1)
            }
        );
        let bundle = TilePath::parse("entries/x001/067.p/112").unwrap();
        assert_eq!(
            bundle,
            TilePath {
                level: None,
                index: 1067,
                width: Some(112)
            }
        );
        for bad in [
            "",
            "0",
            "00/000",
            "64/000",
            "0/1",
            "0/001/002",
            "0/x001",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/01",
            "0/000/1",
            "entries/000.q/3",
            "a/000",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
    }
}
