//! Pinning the bench's node threads to CPUs (`bench --split --pin`): the
//! register side's thread to one CPU, the masters' thread to another, so
//! that neither migrates between cores. Floor and jobs run on the same
//! pinned threads, so their figures stay comparable. Linux only.

/// Why a thread could not be pinned.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The process may run on fewer CPUs than there are nodes to pin.
    #[error("pinning needs {needed} CPUs in this process's affinity mask, it has {have:?}")]
    TooFewCpus {
        /// CPUs needed (one per node).
        needed: usize,
        /// The CPUs the process may run on.
        have: Vec<usize>,
    },
    /// The CPU asked for is not one the process may run on.
    #[error("CPU {cpu} is not in this process's affinity mask {have:?}")]
    NotAllowed {
        /// The CPU asked for.
        cpu: usize,
        /// The CPUs the process may run on.
        have: Vec<usize>,
    },
    /// The system call failed.
    #[error("sched_setaffinity/sched_getaffinity: {0}")]
    Os(#[from] std::io::Error),
    /// Not Linux.
    #[error("pinning threads is only supported on Linux")]
    Unsupported,
}

/// The CPUs the calling thread may run on, in ascending order.
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> Result<Vec<usize>, PinError> {
    use rustix::thread::{sched_getaffinity, CpuSet};
    let set = sched_getaffinity(None).map_err(std::io::Error::from)?;
    Ok((0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect())
}

/// Pins the calling thread to `cpu`, which must be in [`allowed_cpus`].
pub fn pin_current_thread(cpu: usize) -> Result<(), PinError> {
    let have = allowed_cpus()?;
    if !have.contains(&cpu) {
        return Err(PinError::NotAllowed { cpu, have });
    }
    set_current_thread(&[cpu])
}

/// Lets the calling thread run on `cpus` (e.g. a mask [`allowed_cpus`]
/// returned before pinning, to undo it).
#[cfg(target_os = "linux")]
pub fn set_current_thread(cpus: &[usize]) -> Result<(), PinError> {
    use rustix::thread::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    for &cpu in cpus {
        if cpu >= CpuSet::MAX_CPU {
            return Err(PinError::NotAllowed { cpu, have: allowed_cpus()? });
        }
        set.set(cpu);
    }
    sched_setaffinity(None, &set).map_err(std::io::Error::from)?;
    Ok(())
}

/// The CPUs the calling thread may run on (not Linux: an error).
#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus() -> Result<Vec<usize>, PinError> {
    Err(PinError::Unsupported)
}

/// Sets the calling thread's CPUs (not Linux: an error).
#[cfg(not(target_os = "linux"))]
pub fn set_current_thread(_cpus: &[usize]) -> Result<(), PinError> {
    Err(PinError::Unsupported)
}

/// The first `n` CPUs of `have` (a mask from [`allowed_cpus`]), one per
/// node to pin.
pub fn cpus_for(have: &[usize], n: usize) -> Result<Vec<usize>, PinError> {
    match have.get(..n) {
        Some(cpus) => Ok(cpus.to_vec()),
        None => Err(PinError::TooFewCpus { needed: n, have: have.to_vec() }),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_thread_runs_only_on_its_cpu() {
        let first = *allowed_cpus().unwrap().first().expect("a process may run on some CPU");
        // In a thread of its own: the test harness's thread keeps its mask.
        let all = allowed_cpus().unwrap();
        let (mask, on, restored) = std::thread::spawn(move || {
            pin_current_thread(first).unwrap();
            let pinned = (allowed_cpus().unwrap(), rustix::thread::sched_getcpu());
            set_current_thread(&all).unwrap();
            (pinned.0, pinned.1, allowed_cpus().unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(mask, vec![first]);
        assert_eq!(on, first);
        assert_eq!(restored, allowed_cpus().unwrap(), "the mask taken before pinning undoes it");
    }

    #[test]
    fn cpus_outside_the_mask_are_refused_by_name() {
        let have = allowed_cpus().unwrap();
        let outside = (0..).find(|c| !have.contains(c)).unwrap();
        let err = std::thread::spawn(move || pin_current_thread(outside)).join().unwrap().unwrap_err();
        assert!(matches!(&err, PinError::NotAllowed { cpu, .. } if *cpu == outside), "{err}");
        assert!(err.to_string().contains(&format!("CPU {outside} is not in")), "{err}");
        let too_many = cpus_for(&have, have.len() + 1).unwrap_err();
        assert!(too_many.to_string().starts_with(&format!("pinning needs {} CPUs", have.len() + 1)), "{too_many}");
        assert_eq!(cpus_for(&have, 1).unwrap(), vec![have[0]]);
    }
}
