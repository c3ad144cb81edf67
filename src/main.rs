//! The `mysql-tablespace-recycling` binary: everything lives in the library's `cli` module.

fn main() {
    std::process::exit(mysql_tablespace_recycling::cli::main());
}
