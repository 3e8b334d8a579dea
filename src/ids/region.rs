//! Province-level region codes shared by the citizen ID and credit code parsers.
//!
//! Only the first two digits are checked: the full county-level table of GB/T 2260 changes
//! every year (counties merge and split) and old ID numbers keep their old codes for life, so
//! checking six digits would reject real people. Two digits catch most typos and never go stale.

/// Province-level codes of GB/T 2260, including Taiwan (71), Hong Kong (81) and Macao (82).
const PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, // North
    21, 22, 23, // North-east
    31, 32, 33, 34, 35, 36, 37, // East
    41, 42, 43, 44, 45, 46, // Central and south
    50, 51, 52, 53, 54, // South-west
    61, 62, 63, 64, 65, // North-west
    71, 81, 82,
];

/// Codes outside GB/T 2260 that citizen ID numbers nevertheless use: 83 on residence permits
/// for Taiwan residents and 91 on permanent residence ID cards for foreigners.
const ID_ONLY: &[u8] = &[83, 91];

/// `100000` is the "central level" division that national registration authorities put in
/// positions 3-8 of their unified social credit codes (e.g. ministries: `111000...`).
const CENTRAL: u8 = 10;

/// Whether `code` may lead the address code of a citizen ID number.
pub(crate) fn is_citizen_region(code: u8) -> bool {
    PROVINCES.contains(&code) || ID_ONLY.contains(&code)
}

/// Whether `code` may lead the registration-authority division of a credit code.
pub(crate) fn is_registration_region(code: u8) -> bool {
    code == CENTRAL || PROVINCES.contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_codes() {
        assert!(is_citizen_region(11));
        assert!(is_citizen_region(65));
        assert!(is_citizen_region(91));
        assert!(!is_citizen_region(10));
        assert!(!is_citizen_region(16));
        assert!(!is_citizen_region(0));
        assert!(is_registration_region(10));
        assert!(is_registration_region(35));
        assert!(!is_registration_region(91));
        assert!(!is_registration_region(99));
    }
}
