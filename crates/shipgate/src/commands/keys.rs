//! `shipgate keys generate`: a minisign-compatible Ed25519 key pair for signing releases.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use shipgate_sign::SignError;
use zeroize::Zeroizing;

use crate::env_vars;
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a signing key pair: `NAME.key` (secret, mode 0600) and `NAME.pub`.
    ///
    /// The files are in minisign's format: `minisign -S -s NAME.key` signs with the secret key
    /// and `minisign -V -p NAME.pub` verifies shipgate's signatures. Put the printed public key
    /// in shipgate.toml's `[artifact] trusted_keys`, keep the secret key where the pipeline
    /// builds releases (`release create --sign NAME.key`), and never commit it. The secret key
    /// is encrypted (scrypt, as minisign does) when a password is given by `--password-file`
    /// or SHIPGATE_KEY_PASSWORD; without one it is stored unencrypted, protected by its mode.
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The files' name, without extension; may include a folder (`keys/release`).
    #[arg(long, default_value = "shipgate")]
    pub name: PathBuf,
    /// A file whose first line is the password that encrypts the secret key.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

pub fn run(args: KeysArgs, out: &Output) -> Result<ExitStatus, Failure> {
    match args.command {
        KeysCommand::Generate(args) => generate(&args, out),
    }
}

fn generate(args: &GenerateArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let secret_path = with_extension(&args.name, "key");
    let public_path = with_extension(&args.name, "pub");
    for path in [&secret_path, &public_path] {
        if path.exists() {
            return Err(Failure::usage(anyhow!("`{}` exists already", path.display()))
                .hint("keys are never overwritten: choose another `--name`, or move the old files away first"));
        }
    }
    let password = password(args.password_file.as_deref())?;
    let (secret, public) = shipgate_sign::generate(None).map_err(Failure::internal)?;
    shipgate_sign::create_secret_key_file(&secret_path, &secret, password.as_deref().map(String::as_str))
        .map_err(sign_failure)?;
    let public_text = public.to_file_text();
    if let Err(error) = std::fs::write(&public_path, &public_text) {
        let _ = std::fs::remove_file(&secret_path);
        return Err(Failure::usage(anyhow!("cannot write `{}`: {error}", public_path.display())));
    }
    out.data(&format!(
        "created `{}` (secret, mode 0600{}) and `{}` (key id {})\n\
         add the public key to shipgate.toml:\n\n[artifact]\ntrusted_keys = [\"{}\"]\n",
        secret_path.display(),
        if password.is_some() { ", encrypted" } else { ", not encrypted" },
        public_path.display(),
        public.key_id(),
        public.to_base64()
    ))?;
    Ok(ExitStatus::Success)
}

fn with_extension(name: &Path, extension: &str) -> PathBuf {
    let mut path = name.as_os_str().to_owned();
    path.push(".");
    path.push(extension);
    PathBuf::from(path)
}

/// The key password: the first line of `file`, else SHIPGATE_KEY_PASSWORD, else none.
pub fn password(file: Option<&Path>) -> Result<Option<Zeroizing<String>>, Failure> {
    if let Some(file) = file {
        let text =
            Zeroizing::new(std::fs::read_to_string(file).map_err(|error| {
                Failure::usage(anyhow!("cannot read the password file `{}`: {error}", file.display()))
            })?);
        let line = text.lines().next().unwrap_or_default();
        if line.is_empty() {
            return Err(Failure::usage(anyhow!("the password file `{}` is empty", file.display())));
        }
        return Ok(Some(Zeroizing::new(line.to_owned())));
    }
    Ok(std::env::var(env_vars::SHIPGATE_KEY_PASSWORD).ok().filter(|text| !text.is_empty()).map(Zeroizing::new))
}

/// A signing error as a failure with the crate's own hint.
pub fn sign_failure(error: SignError) -> Failure {
    let hint = error.hint();
    Failure::usage(error).hint(hint)
}
