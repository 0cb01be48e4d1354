//! `phone firmware keygen|sign`: the admin side of the signed image format
//! (phone-boot/FIRMWARE.md).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use phone_boot::firmware::{FirmwareKey, Models, SigningKey, sign};
use rand::Rng as _;

/// `phone firmware ...`
#[derive(clap::Subcommand, Debug)]
pub enum FirmwareCommand {
    /// Generate a firmware signing key pair: DIR/firmware-key.pem (PKCS#8, mode 0600) and
    /// DIR/firmware-pub.pem (SPKI).
    Keygen {
        /// Directory for the two PEM files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign an image: writes IMAGE.sig next to it.
    Sign {
        /// The private key (PKCS#8 PEM from `keygen`).
        #[arg(long)]
        key: PathBuf,
        /// A model the image is for (repeatable); none means any model.
        #[arg(long = "model")]
        models: Vec<String>,
        /// The application name written into the signature (default: the image's file name).
        #[arg(long)]
        app: Option<String>,
        /// The image file.
        image: PathBuf,
    },
}

pub fn run(cmd: FirmwareCommand) -> ExitCode {
    let result = match cmd {
        FirmwareCommand::Keygen { out } => keygen(&out),
        FirmwareCommand::Sign {
            key,
            models,
            app,
            image,
        } => sign_image(&key, models, app, &image),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("phone firmware: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn keygen(out: &Path) -> Result<()> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the private key")?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .context("encoding the public key")?;
    let key_path = out.join("firmware-key.pem");
    crate::state_dir::write_secret(&key_path, private.as_bytes())
        .with_context(|| format!("writing {}", key_path.display()))?;
    let pub_path = out.join("firmware-pub.pem");
    fs::write(&pub_path, public).with_context(|| format!("writing {}", pub_path.display()))?;
    let id = FirmwareKey::of(&key).key_id();
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    println!(
        "wrote {} and {} (key id {id})",
        key_path.display(),
        pub_path.display()
    );
    Ok(())
}

/// Loads a private key written by `keygen`.
pub fn load_signing_key(path: &Path) -> Result<SigningKey> {
    let pem = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: not an Ed25519 PKCS#8 key: {e}", path.display()))
}

/// Loads a public key written by `keygen` (SPKI PEM).
pub fn load_firmware_key(path: &Path) -> Result<FirmwareKey> {
    let pem = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_firmware_key(&pem).with_context(|| path.display().to_string())
}

/// A public key from its SPKI PEM text.
pub fn parse_firmware_key(pem: &str) -> Result<FirmwareKey> {
    let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
        .map_err(|e| anyhow::anyhow!("not an Ed25519 public key: {e}"))?;
    FirmwareKey::from_bytes(&key.to_bytes()).map_err(|e| anyhow::anyhow!("{e}"))
}

fn sign_image(key: &Path, models: Vec<String>, app: Option<String>, image: &Path) -> Result<()> {
    let key = load_signing_key(key)?;
    let bytes = fs::read(image).with_context(|| format!("reading {}", image.display()))?;
    let app = match app {
        Some(a) => a,
        None => image
            .file_name()
            .and_then(|n| n.to_str())
            .map(String::from)
            .context("the image path has no file name; pass --app")?,
    };
    let models = if models.is_empty() {
        Models::Any
    } else {
        Models::List(models)
    };
    let text = match sign(&key, &app, models, &bytes) {
        Ok(t) => t,
        Err(e) => bail!("{e}"),
    };
    let mut sig_path = image.as_os_str().to_owned();
    sig_path.push(".sig");
    let sig_path = PathBuf::from(sig_path);
    fs::write(&sig_path, text).with_context(|| format!("writing {}", sig_path.display()))?;
    println!(
        "wrote {} for {app} ({} bytes)",
        sig_path.display(),
        bytes.len()
    );
    Ok(())
}
