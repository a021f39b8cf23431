//! `contextvars` for the loop: [`Context`] and [`ContextVar`].
//!
//! As in Python, a context is a mapping from variables to values. Every callback runs inside
//! a context: the one given to `call_soon_with_context`, the task's own (copied when the task
//! was created), or a copy of the context current when the callback was scheduled. Copies are
//! cheap (the mapping is shared and copied on first write), which matters because asyncio
//! copies the context on every `call_soon`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;

pub(crate) type Vars = Rc<HashMap<u64, Rc<dyn Any>>>;

thread_local! {
    /// The mapping of the context that is entered right now.
    static CURRENT: RefCell<Vars> = RefCell::new(Rc::new(HashMap::new()));
    static NEXT_VAR_ID: Cell<u64> = const { Cell::new(1) };
}

/// A snapshot of context variables, asyncio's `contextvars.Context`.
///
/// ```
/// use sandloop::context::{Context, ContextVar};
/// let request_id = ContextVar::new("request_id", None::<u32>);
/// let ctx = Context::new();
/// ctx.run(|| request_id.set(7));
/// assert_eq!(ctx.run(|| request_id.get()), Some(7));
/// assert_eq!(request_id.get(), None); // the outer context is unchanged
/// ```
#[derive(Clone)]
pub struct Context {
    inner: Rc<ContextInner>,
}

struct ContextInner {
    vars: RefCell<Vars>,
    /// Set while `run` executes, to refuse entering twice.
    entered: Cell<bool>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Context {
        Context::from_vars(Rc::new(HashMap::new()))
    }

    /// A copy of the current context (`contextvars.copy_context()`).
    ///
    /// asyncio: `ctx = contextvars.copy_context()`.
    ///
    /// ```
    /// use sandloop::context::{Context, ContextVar};
    /// let var = ContextVar::new("var", None::<&str>);
    /// var.set("outer");
    /// let snapshot = Context::copy_current();
    /// var.set("changed");
    /// assert_eq!(snapshot.run(|| var.get()), Some("outer"));
    /// ```
    pub fn copy_current() -> Context {
        Context::from_vars(snapshot())
    }

    pub(crate) fn from_vars(vars: Vars) -> Context {
        Context {
            inner: Rc::new(ContextInner {
                vars: RefCell::new(vars),
                entered: Cell::new(false),
            }),
        }
    }

    /// A new context with the same values (`Context.copy()`).
    pub fn copy(&self) -> Context {
        Context::from_vars(self.inner.vars.borrow().clone())
    }

    /// Runs `f` with this context entered: variables set by `f` stay in this context.
    ///
    /// # Panics
    /// When this context is entered already (asyncio raises `RuntimeError`: the inner run's
    /// writes and the outer run's would overwrite each other).
    ///
    /// ```
    /// use sandloop::context::{Context, ContextVar};
    /// let var = ContextVar::new("var", Some(1));
    /// let ctx = Context::copy_current();
    /// ctx.run(|| var.set(2));
    /// assert_eq!(ctx.run(|| var.get()), Some(2));
    /// assert_eq!(var.get(), Some(1));
    /// ```
    #[track_caller]
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.inner.entered.replace(true) {
            panic!("RuntimeError: cannot enter context: {self:?} is already entered");
        }
        let entered = self.inner.vars.borrow().clone();
        let outer = CURRENT.with(|c| c.replace(entered));
        let result = f();
        let inner = CURRENT.with(|c| c.replace(outer));
        *self.inner.vars.borrow_mut() = inner;
        self.inner.entered.set(false);
        result
    }

    /// The number of variables set in this context.
    pub fn len(&self) -> usize {
        self.inner.vars.borrow().len()
    }

    /// `true` when no variable is set in this context.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Context {
    fn default() -> Context {
        Context::new()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Context with {} vars>", self.len())
    }
}

/// A task's context, made only when somebody asks for it.
///
/// Every task runs in a copy of the context current at its creation, but few hand theirs
/// out (`get_context`). Until one does, the task keeps the copied mapping itself and enters
/// it directly: no [`Context`] object, so creating a task costs one allocation less.
pub(crate) struct TaskContext {
    state: RefCell<TaskContextState>,
    /// The task is running in its context now.
    running: Cell<bool>,
}

enum TaskContextState {
    Vars(Vars),
    Made(Context),
}

impl TaskContext {
    /// A copy of the current context (the task's default).
    pub(crate) fn copy_current() -> TaskContext {
        TaskContext::with_state(TaskContextState::Vars(snapshot()))
    }

    /// The context given at creation.
    pub(crate) fn given(ctx: Context) -> TaskContext {
        TaskContext::with_state(TaskContextState::Made(ctx))
    }

    fn with_state(state: TaskContextState) -> TaskContext {
        TaskContext {
            state: RefCell::new(state),
            running: Cell::new(false),
        }
    }

    /// The task's context as a [`Context`], made now if it was not yet. Asked for while the
    /// task runs, it holds the running values and counts as entered, as in asyncio.
    pub(crate) fn get(&self) -> Context {
        let mut state = self.state.borrow_mut();
        if let TaskContextState::Made(ctx) = &*state {
            return ctx.clone();
        }
        let ctx = if self.running.get() {
            Context {
                inner: Rc::new(ContextInner {
                    vars: RefCell::new(snapshot()),
                    entered: Cell::new(true),
                }),
            }
        } else {
            let TaskContextState::Vars(vars) = &*state else {
                unreachable!("checked above")
            };
            Context::from_vars(vars.clone())
        };
        *state = TaskContextState::Made(ctx.clone());
        ctx
    }

    /// Runs `f` with the task's context entered ([`Context::run`]).
    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let entered = match &*self.state.borrow() {
            TaskContextState::Made(ctx) => Err(ctx.clone()),
            TaskContextState::Vars(vars) => Ok(vars.clone()),
        };
        match entered {
            Ok(vars) => self.run_vars(vars, f),
            Err(ctx) => ctx.run(f),
        }
    }

    fn run_vars<R>(&self, vars: Vars, f: impl FnOnce() -> R) -> R {
        let outer = CURRENT.with(|c| c.replace(vars));
        self.running.set(true);
        let result = f();
        self.running.set(false);
        let inner = CURRENT.with(|c| c.replace(outer));
        match &mut *self.state.borrow_mut() {
            TaskContextState::Vars(vars) => *vars = inner,
            // `get` made the context while `f` ran, and entered it for `f`.
            TaskContextState::Made(ctx) => {
                *ctx.inner.vars.borrow_mut() = inner;
                ctx.inner.entered.set(false);
            }
        }
        result
    }
}

/// The current mapping, shared (no copy is made until somebody writes).
pub(crate) fn snapshot() -> Vars {
    CURRENT.with(|c| c.borrow().clone())
}

/// Runs `f` in a throw-away copy of `vars`: what `f` sets is discarded afterwards, like a
/// callback that asyncio runs in a copied context.
pub(crate) fn run_in_snapshot<R>(vars: &Vars, f: impl FnOnce() -> R) -> R {
    let outer = CURRENT.with(|c| c.replace(vars.clone()));
    let result = f();
    CURRENT.with(|c| c.replace(outer));
    result
}

/// A context variable, asyncio's `contextvars.ContextVar`.
///
/// asyncio: `var = ContextVar("user")`; each task runs in its own copy of the context:
///
/// ```
/// use std::rc::Rc;
/// use sandloop::context::ContextVar;
/// sandloop::run(async {
///     let user = Rc::new(ContextVar::new("user", None::<String>));
///     user.set("ada".into());
///     let task = sandloop::create_task({
///         let user = user.clone();
///         async move {
///             user.set("grace".into()); // in the task's copy only
///             Ok::<_, sandloop::Error>(user.get())
///         }
///     });
///     assert_eq!(task.await?.as_deref(), Some("grace"));
///     assert_eq!(user.get().as_deref(), Some("ada"));
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub struct ContextVar<T> {
    id: u64,
    name: &'static str,
    default: Option<T>,
    _marker: PhantomData<Rc<T>>,
}

/// What [`ContextVar::set`] returns, to undo that set with [`ContextVar::reset`].
///
/// ```
/// use sandloop::context::ContextVar;
/// let level = ContextVar::new("level", Some(0));
/// let token = level.set(3);
/// assert_eq!(level.get(), Some(3));
/// level.reset(token)?;
/// assert_eq!(level.get(), Some(0));
/// # Ok::<_, sandloop::Error>(())
/// ```
pub struct Token<T> {
    var_id: u64,
    old: Option<Rc<dyn Any>>,
    _marker: PhantomData<Rc<T>>,
}

impl<T: Clone + 'static> ContextVar<T> {
    /// A new variable with a name (for debugging) and an optional default.
    pub fn new(name: &'static str, default: Option<T>) -> ContextVar<T> {
        let id = NEXT_VAR_ID.with(|n| {
            let id = n.get();
            n.set(id + 1);
            id
        });
        ContextVar {
            id,
            name,
            default,
            _marker: PhantomData,
        }
    }

    /// The variable's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The value in the current context, else the default.
    ///
    /// ```
    /// use sandloop::context::ContextVar;
    /// let with_default = ContextVar::new("retries", Some(3));
    /// let without = ContextVar::<u32>::new("user_id", None);
    /// assert_eq!((with_default.get(), without.get()), (Some(3), None));
    /// ```
    pub fn get(&self) -> Option<T> {
        CURRENT.with(|c| {
            c.borrow()
                .get(&self.id)
                .and_then(|v| v.downcast_ref::<T>().cloned())
                .or_else(|| self.default.clone())
        })
    }

    /// Sets the value in the current context.
    pub fn set(&self, value: T) -> Token<T> {
        let old =
            CURRENT.with(|c| Rc::make_mut(&mut c.borrow_mut()).insert(self.id, Rc::new(value)));
        Token {
            var_id: self.id,
            old,
            _marker: PhantomData,
        }
    }

    /// Restores the value the variable had before the `set` that returned `token`.
    pub fn reset(&self, token: Token<T>) -> crate::Result<()> {
        if token.var_id != self.id {
            return Err(crate::Error::invalid_state(format!(
                "token was created by a different ContextVar than {:?}",
                self.name
            )));
        }
        CURRENT.with(|c| {
            let mut vars = c.borrow_mut();
            let map = Rc::make_mut(&mut vars);
            match token.old {
                Some(old) => map.insert(self.id, old),
                None => map.remove(&self.id),
            };
        });
        Ok(())
    }
}

impl<T> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<ContextVar name={:?}>", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_share_values_until_one_is_written() {
        let var = ContextVar::new("v", None::<u32>);
        let a = Context::new();
        a.run(|| var.set(1));
        let b = a.copy();
        b.run(|| var.set(2));
        assert_eq!(a.run(|| var.get()), Some(1));
        assert_eq!(b.run(|| var.get()), Some(2));
    }

    #[test]
    fn reset_restores_the_previous_value() {
        let var = ContextVar::new("v", Some(0u32));
        Context::new().run(|| {
            let t1 = var.set(1);
            let t2 = var.set(2);
            var.reset(t2).unwrap();
            assert_eq!(var.get(), Some(1));
            var.reset(t1).unwrap();
            assert_eq!(var.get(), Some(0));
        });
    }

    #[test]
    fn reset_with_another_variables_token_is_an_error() {
        let a = ContextVar::new("a", None::<u32>);
        let b = ContextVar::new("b", None::<u32>);
        let token = a.set(1);
        assert!(b.reset(token).is_err());
    }

    #[test]
    fn snapshots_discard_what_the_callback_sets() {
        let var = ContextVar::new("v", None::<u32>);
        let vars = snapshot();
        run_in_snapshot(&vars, || var.set(5));
        assert_eq!(var.get(), None);
    }
}
