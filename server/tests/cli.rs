//! The server binary's command line: help, and start-up errors that name their flag.

use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the server binary runs")
}

#[test]
fn help_documents_every_flag_and_its_environment_variable() {
    let output = run(&["--help"], &[]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "--addr",
        "LEPTOS_SITE_ADDR",
        "--interval-ms",
        "LIVENAMES_INTERVAL_MS",
        "--retry-ms",
        "LIVENAMES_RETRY_MS",
        "--max-events",
        "LIVENAMES_MAX_EVENTS",
        "--site-root",
        "LEPTOS_SITE_ROOT",
        "--history",
        "LIVENAMES_HISTORY",
        "--keepalive-secs",
        "LIVENAMES_KEEPALIVE_SECS",
        "--max-connections",
        "LIVENAMES_MAX_CONNECTIONS",
        "--shutdown-timeout-secs",
        "LIVENAMES_SHUTDOWN_TIMEOUT_SECS",
        "--allow-origin",
        "LIVENAMES_ALLOW_ORIGIN",
        "--reuse-port",
        "LIVENAMES_REUSE_PORT",
        "--redis-url",
        "LIVENAMES_REDIS_URL",
        "--redis-key",
        "LIVENAMES_REDIS_KEY",
        "--lease-ms",
        "LIVENAMES_LEASE_MS",
    ] {
        assert!(help.contains(expected), "--help lacks {expected}:\n{help}");
    }
}

#[test]
fn a_bad_flag_value_stops_start_up_naming_the_flag() {
    let output = run(&["--interval-ms", "0"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--interval-ms"), "{stderr}");
}

#[test]
fn a_bad_origin_stops_start_up_naming_the_flag() {
    for (args, env) in [
        (&["--allow-origin", "https://example.com/path"][..], &[][..]),
        (&[][..], &[("LIVENAMES_ALLOW_ORIGIN", "https://ok.example,not an origin")][..]),
    ] {
        let output = run(args, env);
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("--allow-origin") && stderr.contains("origin"), "{stderr}");
    }
}

#[test]
fn a_bad_environment_value_names_the_flag_it_stands_for() {
    let output = run(&[], &[("LIVENAMES_MAX_EVENTS", "lots")]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--max-events"), "{stderr}");
}

#[test]
fn an_address_in_use_stops_start_up_naming_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = run(&["--addr", &addr], &[]);
    assert_eq!(output.status.code(), Some(1));
    let log = String::from_utf8(output.stdout).unwrap();
    assert!(log.contains("--addr") && log.contains(&addr), "{log}");
}

#[test]
fn an_unreachable_redis_stops_start_up_naming_the_flag() {
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("redis://127.0.0.1:{port}/");
    let output = run(&["--addr", "127.0.0.1:0", "--redis-url", &url], &[]);
    assert_eq!(output.status.code(), Some(1));
    let log = String::from_utf8(output.stdout).unwrap();
    assert!(log.contains("--redis-url") && log.contains(&url), "{log}");
}

#[test]
fn instances_with_reuse_port_share_one_port() {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Stdio};
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--addr", &addr, "--reuse-port"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server binary runs")
    };
    let mut instances: Vec<Child> = vec![start(), start()];
    for instance in &mut instances {
        let lines = BufReader::new(instance.stdout.take().unwrap()).lines();
        let log: Vec<String> =
            lines.map_while(Result::ok).take_while(|line| !line.contains("listening on")).collect();
        let listening = instance.try_wait().unwrap().is_none();
        let _ = instance.kill();
        let _ = instance.wait();
        assert!(listening, "an instance could not listen on {addr}:\n{}", log.join("\n"));
    }
}

#[test]
fn readme_configuration_table_matches_the_flags() {
    use clap::CommandFactory;
    let readme = include_str!("../../README.md");
    for arg in server::config::Config::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if ["help", "version"].contains(&long) {
            continue;
        }
        let env = arg.get_env().expect("every flag has an env fallback").to_string_lossy();
        // A flag without a default (a list that starts empty) reads "none" in the table.
        let default = match arg.get_default_values() {
            [] => "none".to_string(),
            [default, ..] => format!("`{}`", default.to_string_lossy()),
        };
        let row = format!("| `--{long}` | `{env}` | {default} |");
        assert!(readme.contains(&row), "README's configuration table lacks {row}");
    }
}

#[test]
fn a_site_of_another_build_stops_start_up_naming_the_fix() {
    let site = std::env::temp_dir().join(format!("livenames-cli-site-{}", std::process::id()));
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    // What `cargo leptos watch` leaves: a debug page, which cannot hydrate a release server's.
    let debug_page = b"\0asm\x01\0\0\0livenames-build:debug-0123456789abcdef";
    std::fs::write(site.join("pkg").join("livenames.wasm"), debug_page).unwrap();
    let output = run(&["--addr", "127.0.0.1:0", "--site-root", site.to_str().unwrap()], &[]);
    let _ = std::fs::remove_dir_all(&site);
    assert_eq!(output.status.code(), Some(1));
    let log = String::from_utf8(output.stdout).unwrap();
    assert!(log.contains("livenames.wasm is not of this server's build"), "{log}");
    assert!(log.contains("make build") && log.contains("--site-root"), "{log}");
}
