//! The WIT interface `sandloop:host/executor` over an [`ExecutorView`].

use wasmtime::component::Resource;

use super::{Job, JobError, Pool};
use crate::bindings::executor as wit;
use crate::bindings::types::Error;
use crate::state::ExecutorView;

impl wit::Host for ExecutorView<'_> {}

impl wit::HostPool for ExecutorView<'_> {
    /// The WIT constructor cannot return an error, so no handle-limit check: a pool past
    /// the table's hard capacity traps the instance (see `crate::limits::handles`).
    fn new(&mut self, max_workers: u32) -> wasmtime::Result<Resource<Pool>> {
        Ok(self.table.push(Pool::new(self.executor, max_workers))?)
    }

    fn submit(
        &mut self,
        pool: Resource<Pool>,
        name: String,
        args: Vec<u8>,
        token: u64,
    ) -> wasmtime::Result<Result<Resource<Job>, Error>> {
        // Checked before the job is queued: a refused job never runs.
        if let Err(err) = crate::limits::check_room(self.table, self.limits, "submit", 1) {
            return Ok(Err(err.into()));
        }
        match self.table.get(&pool)?.submit(name, args, token) {
            Ok(job) => Ok(Ok(self.table.push(job)?)),
            Err(err) => Ok(Err(err.into())),
        }
    }

    fn shutdown(&mut self, pool: Resource<Pool>, token: u64) -> wasmtime::Result<()> {
        self.table.get(&pool)?.shutdown(token);
        Ok(())
    }

    fn drop(&mut self, pool: Resource<Pool>) -> wasmtime::Result<()> {
        self.table.delete(pool)?;
        Ok(())
    }
}

impl wit::HostJob for ExecutorView<'_> {
    fn answer(
        &mut self,
        job: Resource<Job>,
    ) -> wasmtime::Result<Option<Result<Vec<u8>, wit::JobError>>> {
        let answer = self.table.get(&job)?.answer();
        Ok(answer.map(|answer| answer.map_err(Into::into)))
    }

    fn drop(&mut self, job: Resource<Job>) -> wasmtime::Result<()> {
        self.table.delete(job)?;
        Ok(())
    }
}

impl From<JobError> for wit::JobError {
    fn from(err: JobError) -> wit::JobError {
        match err {
            JobError::Failed(message) => wit::JobError::Failed(message),
            JobError::Trapped(message) => wit::JobError::Trapped(message),
            JobError::UnknownJob(name) => wit::JobError::UnknownJob(name),
            JobError::Cancelled => wit::JobError::Cancelled,
        }
    }
}
