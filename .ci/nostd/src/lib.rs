//! CI-only: links every stage crate into a `#![no_std]` library. It defines the lang items std
//! would bring (panic handler, global allocator), so any std in the dependency graph is a
//! duplicate lang item (E0152) and the build fails.
#![no_std]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};

// Use something from each crate so each one is really compiled and linked into this rlib.
pub use phone_boot as boot;
pub use phone_dhcp as dhcp;
pub use phone_dns as dns;
pub use phone_dot1x as dot1x;
pub use phone_http as http;
pub use phone_lldp as lldp;
pub use phone_sansio as sansio;
pub use phone_scep as scep;
pub use phone_settings as settings;
pub use phone_sip_reg as sip_reg;
pub use phone_upgrade_script as upgrade_script;

/// A settings store built here proves the alloc-based API links without std.
pub fn settings_smoke() -> usize {
    let mut store = phone_settings::Store::new();
    let _ = store.apply_sson(b"HTTPSRVR=10.0.0.1");
    store.encode().len()
}

/// The supplicant (with its rustls + ring EAP-TLS) builds and links without std.
pub fn dot1x_smoke() -> usize {
    let mut config = phone_dot1x::Config::new([2, 0, 0, 0, 0, 1]);
    config.mode = phone_dot1x::Mode::Unicast;
    config.method = phone_dot1x::Method::Tls;
    config.tls = Some(phone_dot1x::TlsConfig::default());
    let s = phone_dot1x::Supplicant::new(config, phone_sansio::Instant::ZERO);
    usize::from(s.state() == phone_dot1x::PortState::Connecting)
}

/// Never allocates: the check only compiles and links, it never runs.
struct NoAlloc;

// SAFETY: returning null is always a valid "allocation failed" answer; dealloc is never handed a
// pointer this allocator gave out, because it gives none.
unsafe impl GlobalAlloc for NoAlloc {
    unsafe fn alloc(&self, _layout: Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOCATOR: NoAlloc = NoAlloc;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
