//! licreg: an electronic licence registry for ride-hailing drivers, vehicles and platforms.
#![forbid(unsafe_code)]
