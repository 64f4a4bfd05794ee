//! A component of another world (`wasi:cli/command`): it exports `run`, not `invoke`.

fn main() {
    println!("I am a command, not a handler");
}
