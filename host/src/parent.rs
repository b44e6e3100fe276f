//! Child processes that end with the process that started them: the bench's
//! register and floor servers. A bench killed outright (SIGKILL, a CI
//! timeout) cannot kill its children itself, so each child asks the kernel
//! (Linux `PR_SET_PDEATHSIG`) to kill it when its parent ends, and exits at
//! once if that already happened before it asked. The kernel ties the
//! signal to the thread that started the child: start it from a thread that
//! lives as long as the child is needed (the bench's runtime threads do).

use std::process::Command;

/// The environment variable naming the parent a child must not outlive.
pub const EXIT_WITH_PARENT: &str = "REGCENTER_EXIT_WITH_PARENT";

/// Marks `cmd`'s process to end with this one.
pub fn bind_to_this_process(cmd: &mut Command) -> &mut Command {
    cmd.env(EXIT_WITH_PARENT, std::process::id().to_string())
}

/// In a process started by [`bind_to_this_process`]: arranges to be killed
/// with the parent, or exits now when the parent is already gone. Returns
/// whether the variable was set; an unusable value is an error naming it.
pub fn follow_parent_from_env() -> Result<bool, String> {
    let Some(value) = std::env::var_os(EXIT_WITH_PARENT) else { return Ok(false) };
    let parent: i32 = value.to_str().and_then(|v| v.parse().ok()).filter(|p| *p > 0).ok_or_else(|| format!("{EXIT_WITH_PARENT} must be a process id, got {value:?}"))?;
    follow(parent)?;
    Ok(true)
}

#[cfg(target_os = "linux")]
fn follow(parent: i32) -> Result<(), String> {
    use rustix::process::{getppid, set_parent_process_death_signal, Signal};
    set_parent_process_death_signal(Some(Signal::KILL)).map_err(|e| format!("cannot ask to end with the parent: {e}"))?;
    // Asked after the parent may have ended: then this process was re-parented.
    if getppid().map(|p| p.as_raw_nonzero().get()) != Some(parent) {
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn follow(_parent: i32) -> Result<(), String> {
    Ok(())
}
