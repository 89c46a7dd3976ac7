//! `tollgate`: the command-line front door to a Tollgate billing database.

mod demo;

use clap::{Parser, Subcommand};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use tollgate::Engine;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "Tollgate: an embedded telecom billing engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new billing database with one administrator.
    Init {
        /// Database file to create.
        db: PathBuf,
        /// Administrator login.
        #[arg(long, default_value = "admin")]
        login: String,
        /// Read the administrator password from this file (first line). Otherwise the
        /// TOLLGATE_ADMIN_PASSWORD environment variable, otherwise a prompt.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Call a Management API method and print the reply envelope as JSON.
    ///
    /// Without `auth` or `SID` in the params the call runs as the local operator (whoever can
    /// open the database file already holds everything in it).
    Call {
        /// Database file.
        db: PathBuf,
        /// Method, e.g. clients.list.
        method: String,
        /// Params as a JSON object (default {}).
        params: Option<String>,
    },
    /// Build a small operator in a temporary database and show what happens, step by step.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init {
            db,
            login,
            password_file,
        } => init(&db, &login, password_file.as_deref()),
        Command::Call { db, method, params } => call(&db, &method, params.as_deref()),
        Command::Demo => demo::run(),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("tollgate: {msg}");
            ExitCode::from(2)
        }
    }
}

fn path_str(p: &std::path::Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("{} is not a UTF-8 path", p.display()))
}

fn admin_password(file: Option<&std::path::Path>) -> Result<String, String> {
    if let Some(f) = file {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        return Ok(text.lines().next().unwrap_or_default().to_string());
    }
    if let Ok(p) = std::env::var("TOLLGATE_ADMIN_PASSWORD") {
        return Ok(p);
    }
    let first = rpassword::prompt_password("Administrator password: ")
        .map_err(|e| format!("cannot read password: {e}"))?;
    let second = rpassword::prompt_password("Repeat password: ")
        .map_err(|e| format!("cannot read password: {e}"))?;
    if first != second {
        return Err("passwords do not match".into());
    }
    Ok(first)
}

fn init(
    db: &std::path::Path,
    login: &str,
    password_file: Option<&std::path::Path>,
) -> Result<ExitCode, String> {
    let password = admin_password(password_file)?;
    Engine::create(path_str(db)?, login, &password).map_err(|e| format!("{} ({})", e, e.code()))?;
    println!("created {} with administrator '{login}'", db.display());
    Ok(ExitCode::SUCCESS)
}

fn call(db: &std::path::Path, method: &str, params: Option<&str>) -> Result<ExitCode, String> {
    let params: Value = match params {
        None => Value::Object(Default::default()),
        Some(text) => {
            serde_json::from_str(text).map_err(|e| format!("params are not valid JSON: {e}"))?
        }
    };
    if !params.is_object() {
        return Err("params must be a JSON object".into());
    }
    let engine = Engine::open(path_str(db)?).map_err(|e| format!("{} ({})", e, e.code()))?;
    let authenticated =
        params.get("auth").is_some() || params.get("SID").is_some() || params.get("AUTH").is_some();
    let env = if authenticated {
        engine.call(method, params)
    } else {
        engine.call_as_system(method, params)
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&env.to_json()).unwrap_or_default()
    );
    Ok(if env.code {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
