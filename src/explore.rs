//! `cowlab explore`: stateright's Explorer on 127.0.0.1, so a designer can step through
//! interleavings in a browser. States and steps render in domain words.

use crate::check::ModelArgs;
use crate::CliError;
use std::io::Write;
use std::net::TcpListener;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Checker threads, when the page asks to run the check to completion.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
    /// Explore paths of at most this many steps.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_depth: Option<u32>,
}

pub fn run(args: &Args) -> Result<u8, CliError> {
    let model = args.model.model()?;
    // Take the port here, so that a busy port is one line of bad input rather than a panic
    // inside the Explorer; hand over its number (the Explorer binds it again at once).
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .map_err(|e| CliError::usage(format!("cannot listen on 127.0.0.1:{}: {e}", args.port)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::usage(format!("cannot listen on 127.0.0.1:{}: {e}", args.port)))?;
    drop(listener);
    print!("{}", model.spec());
    println!("Explorer: http://{addr}/ (stop with Ctrl-C)");
    let _ = std::io::stdout().flush();
    cowlab_model::exhaustive::check::serve(
        model,
        addr,
        args.threads as usize,
        args.max_depth.map(|d| d as usize),
    );
    Ok(0)
}
