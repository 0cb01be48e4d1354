//! The software hand-off (files.md §8, FIRMWARE.md): the APPNAME and RFSNAME decision, the
//! signature file, the image download with its retries, then the [`crate::flash::Flasher`].
//!
//! RFSNAME (96x1: the root-file-system / language tar the upgrade script names with APPNAME) is
//! compared with the RFS the running slot holds. A slot's content is the application image
//! followed by its RFS ([`crate::flash::SlotImage`]), so when either name differs both files
//! are fetched, each with its own signature file (signed under its own name), verified, and
//! written together into the inactive slot: the A/B rule holds for the RFS too, and a power cut
//! or a refused RFS leaves the running slot as it was. An empty APPNAME means no download, RFS
//! or not.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use phone_upgrade_script::{SoftwareNames, decide};
use rand_core::Rng;

use super::fetch::Purpose;
use super::server::{Scheme, Server, backoff, candidates};
use super::warning::FetchError;
use super::{FileStage, Obtained, Phase, Software};
use crate::firmware::{ImageHeader, Rejected, SignatureFile};
use crate::flash::{Flasher, VerifiedImage};

impl<R: Rng> FileStage<R> {
    /// The software decision (files.md §8) and, if needed, the signature fetch.
    pub(super) fn software(&mut self) {
        let Some(run) = &self.run else {
            self.finish(Software::Unchanged);
            return;
        };
        let running = self
            .config
            .record
            .running()
            .map(|i| i.app.clone())
            .unwrap_or_default();
        let wanted = run.appname().to_vec();
        let wanted_rfs = run.rfsname().unwrap_or_default().to_vec();
        let fetch = decide(
            SoftwareNames {
                app: &wanted,
                rfs: &wanted_rfs,
            },
            SoftwareNames {
                app: running.as_bytes(),
                rfs: self.config.record.running_rfs().as_bytes(),
            },
        );
        if fetch.is_empty() || wanted.is_empty() {
            self.finish(Software::Unchanged);
            return;
        }
        // The new slot holds both: the RFS is fetched after the application, even when only
        // one of the two names changed.
        let name = String::from_utf8_lossy(&wanted).into_owned();
        self.rfs_pending =
            (!wanted_rfs.is_empty()).then(|| String::from_utf8_lossy(&wanted_rfs).into_owned());
        if self.config.firmware_key.is_none() {
            self.finish(Software::Rejected {
                name,
                reason: Rejected::NoKey,
            });
            return;
        }
        let servers = self.software_servers();
        self.sig_from(name, servers, 0);
    }

    /// Software over HTTP only; with AUTH=1 over HTTPS only (Decision 4).
    fn software_servers(&self) -> Vec<Server> {
        match &self.server {
            Some(s) if s.scheme == Scheme::Http || self.store.flag("AUTH") == Some(true) => {
                alloc::vec![s.clone()]
            }
            _ => candidates(&self.store)
                .into_iter()
                .filter(|c| c.scheme == Scheme::Http)
                .collect(),
        }
    }

    /// Plans `<name>.sig` on `servers[index..]`, the first a bound allows.
    fn sig_from(&mut self, name: String, servers: Vec<Server>, index: usize) {
        let sig_name = format!("{name}.sig");
        for (i, server) in servers.iter().enumerate().skip(index) {
            let limits = self.config.http.clone();
            let path = server.path_of(&sig_name);
            if self
                .plan(server, &path, &sig_name, Purpose::Sig, limits)
                .is_ok()
            {
                self.phase = Phase::Sig {
                    name,
                    servers,
                    index: i,
                };
                return;
            }
        }
        let reason = if servers.is_empty() {
            Rejected::Download
        } else {
            Rejected::NoSignature
        };
        self.finish(Software::Rejected { name, reason });
    }

    pub(super) fn sig_result(
        &mut self,
        name: String,
        servers: Vec<Server>,
        index: usize,
        result: Result<Obtained, FetchError>,
    ) {
        match result {
            Ok(f) => match servers.get(index).cloned() {
                Some(server) => self.check_sig(name, server, &f.body),
                None => self.finish(Software::Rejected {
                    name,
                    reason: Rejected::NoSignature,
                }),
            },
            Err(_) => self.sig_from(name, servers, index + 1),
        }
    }

    fn check_sig(&mut self, name: String, server: Server, bytes: &[u8]) {
        let Some(key) = self.config.firmware_key else {
            self.finish(Software::Rejected {
                name,
                reason: Rejected::NoKey,
            });
            return;
        };
        let header = match SignatureFile::parse(bytes) {
            Err(e) => Err(Rejected::SigFile(e)),
            Ok(sig) => sig.check_for(&key, &self.config.model, &name).cloned(),
        };
        match header {
            Ok(h) if h.length > self.config.max_image as u64 => self.finish(Software::Rejected {
                name,
                reason: Rejected::WrongLength {
                    got: h.length,
                    signed: h.length,
                },
            }),
            Ok(h) => self.start_image(name, server, Box::new(h), 1),
            Err(reason) => self.finish(Software::Rejected { name, reason }),
        }
    }

    pub(super) fn start_image(
        &mut self,
        name: String,
        server: Server,
        header: Box<ImageHeader>,
        attempt: u32,
    ) {
        let path = server.path_of(&name);
        let mut limits = self.config.http.clone();
        // The signed length bounds the body: a longer answer fails, never buffers.
        limits.max_body = usize::try_from(header.length).unwrap_or(usize::MAX);
        limits.timeout = self.config.image_timeout;
        if self
            .plan(&server, &path, &name, Purpose::Image { attempt }, limits)
            .is_err()
        {
            self.finish(Software::Rejected {
                name,
                reason: Rejected::Download,
            });
            return;
        }
        self.phase = Phase::Image {
            name,
            server,
            header,
        };
    }

    pub(super) fn image_result(
        &mut self,
        name: String,
        server: Server,
        header: Box<ImageHeader>,
        attempt: u32,
        result: Result<Obtained, FetchError>,
    ) {
        match result {
            Ok(f) => match VerifiedImage::new(&header, f.body) {
                Ok(image) => {
                    // The application first; its RFS next, if RFSNAME names one.
                    if let Some(rfs) = self.rfs_pending.take() {
                        self.app_image = Some(image);
                        let servers = self.software_servers();
                        self.sig_from(rfs, servers, 0);
                        return;
                    }
                    let image = match self.app_image.take() {
                        Some(app) => app.with_rfs(image),
                        None => image,
                    };
                    let name = image.app().into();
                    let flasher = Flasher::new(
                        self.config.flash.clone(),
                        &self.config.record,
                        image,
                        self.now,
                    );
                    self.phase = Phase::Flashing {
                        name,
                        flasher: Box::new(flasher),
                    };
                }
                Err(reason) => self.finish(Software::Rejected { name, reason }),
            },
            // The server answered that the image is not there, or a bound forbids another GET:
            // retrying changes nothing.
            Err(FetchError::Status(404 | 410) | FetchError::GetBudget | FetchError::HostBudget) => {
                self.finish(Software::Rejected {
                    name,
                    reason: Rejected::Download,
                });
            }
            Err(_) if attempt < self.config.image_attempts => {
                let delay = backoff(
                    &mut self.rng,
                    self.config.backoff_initial,
                    self.config.backoff_max,
                    attempt.saturating_sub(1),
                );
                self.phase = Phase::ImageBackoff {
                    name,
                    server,
                    header,
                    attempt: attempt + 1,
                    until: self.now + delay,
                };
            }
            Err(_) => self.finish(Software::Rejected {
                name,
                reason: Rejected::Download,
            }),
        }
    }
}
