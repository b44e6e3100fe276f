//! The `regcenter` command line: clap and tracing setup, then one library call.

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use regcenter::limits::JobLimits;
use std::process::ExitCode;
use std::time::Duration;

/// A WebAssembly-native register center.
#[derive(Parser)]
#[command(name = "regcenter", version, about, long_about = None)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, env = "REGCENTER_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run services and jobs in this process, without a network.
    #[command(subcommand)]
    Local(Local),
    /// Print a component's imports and exports with their signatures.
    Inspect {
        /// The component file (or the name of a built plugin, e.g. `greet`).
        file: String,
    },
}

#[derive(Subcommand)]
enum Local {
    /// Call one method of a service and print the JSON result.
    Call {
        #[command(flatten)]
        services: Services,
        /// The service (`name` or `name@version`).
        service: String,
        /// The method (`sayHello2`, `say-hello2` or `greeter/say-hello2`).
        method: String,
        /// Arguments: a JSON object of named parameters or an array of positional ones.
        args: Option<String>,
    },
    /// Run a job against the services and print each emitted item as a JSON line.
    Run {
        #[command(flatten)]
        services: Services,
        /// The job component (or the name of a built plugin, e.g. `greet`).
        #[arg(long)]
        job: String,
        /// The job's input (JSON).
        #[arg(long)]
        input: Option<String>,
        /// The job's deadline in seconds.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
}

#[derive(Args)]
struct Services {
    /// A service to host: NAME=FILE, or NAME of a built plugin. Repeatable.
    #[arg(long = "service", value_name = "NAME=FILE")]
    specs: Vec<String>,
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.log_format);
    match dispatch(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Inspect { file } => print!("{}", regcenter::local::inspect(&file)?),
        Command::Local(Local::Call { services, service, method, args }) => {
            let out = regcenter::local::call(&services.specs, &service, &method, args.as_deref()).await?;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Command::Local(Local::Run { services, job, input, timeout }) => {
            if !(timeout.is_finite() && timeout > 0.0) {
                anyhow::bail!("--timeout must be a positive number of seconds");
            }
            let limits = JobLimits { deadline: Duration::from_secs_f64(timeout), ..JobLimits::default() };
            regcenter::local::run(&services.specs, &job, input.as_deref(), limits, &mut std::io::stdout()).await?;
        }
    }
    Ok(())
}
