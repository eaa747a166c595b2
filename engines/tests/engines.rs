//! The engines really started: they need Debian's postgresql and redis-server
//! (`cargo xtask install`). Each step's time is printed (`--nocapture` shows it).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use parley_engines::{Postgres, PostgresOptions, Redis, RedisOptions, scratch_dir};

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    eprintln!("[engines] {what}: {} ms", started.elapsed().as_millis());
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}

#[test]
fn postgres_starts_serves_restarts_and_stops() {
    let dir = scratch_dir("parley-engines-pg").unwrap();
    let mut pg = timed("postgres initdb + start (fsync off)", || {
        Postgres::start(&dir, PostgresOptions::for_tests()).unwrap()
    });
    assert_eq!(
        pg.url(),
        format!("postgres://parley@127.0.0.1:{}/postgres", pg.port())
    );
    let pid = pg.pid().unwrap();
    assert!(alive(pid));
    assert_eq!(pg.psql("postgres", "SHOW fsync").unwrap(), "off");

    timed("postgres create_database", || {
        pg.create_database("t1").unwrap()
    });
    pg.psql("t1", "CREATE TABLE x (v int); INSERT INTO x VALUES (7)")
        .unwrap();
    assert!(pg.url_for("t1").ends_with("/t1"));

    timed("postgres restart_fast", || pg.restart_fast().unwrap());
    assert_ne!(pg.pid().unwrap(), pid, "a restart is a new postmaster");
    assert_eq!(pg.psql("t1", "SELECT v FROM x").unwrap(), "7");

    timed("postgres kill (immediate)", || pg.kill().unwrap());
    assert!(
        pg.psql("t1", "SELECT 1").is_err(),
        "nobody answers after kill"
    );
    timed("postgres start after kill (recovery)", || {
        pg.restart_fast().unwrap()
    });
    assert_eq!(pg.psql("t1", "SELECT v FROM x").unwrap(), "7");

    let pid = pg.pid().unwrap();
    timed("postgres stop (fast)", || pg.stop().unwrap());
    assert!(!alive(pid));
    assert!(!dir.exists(), "the directory is removed");
}

#[test]
fn postgres_with_fsync_on_stops_when_dropped() {
    let dir = scratch_dir("parley-engines-pg").unwrap();
    let pg = timed("postgres initdb + start (fsync on)", || {
        Postgres::start(&dir, PostgresOptions::default()).unwrap()
    });
    assert_eq!(pg.psql("postgres", "SHOW fsync").unwrap(), "on");
    let pid = pg.pid().unwrap();
    timed("postgres drop (immediate)", || drop(pg));
    assert!(!alive(pid));
    assert!(!dir.exists());
}

#[test]
fn redis_starts_restarts_cuts_subscribers_and_stops() {
    let dir = scratch_dir("parley-engines-redis").unwrap();
    let mut redis = timed("redis start", || {
        Redis::start(&dir, RedisOptions::default()).unwrap()
    });
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}", redis.port()));
    assert_eq!(redis.command(&["SET", "k", "v"]).unwrap(), "OK");
    assert_eq!(redis.command(&["GET", "k"]).unwrap(), "v");

    // A subscriber, cut by CLIENT KILL TYPE pubsub.
    let mut sub = TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    sub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sub.write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\nc\r\n")
        .unwrap();
    let mut reader = BufReader::new(sub.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "*3\r\n", "the subscription is confirmed");
    assert_eq!(redis.kill_pubsub_clients().unwrap(), 1);
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut reader, &mut rest);
    assert_eq!(redis.kill_pubsub_clients().unwrap(), 0);

    let pid = redis.pid().unwrap();
    let port = redis.port();
    timed("redis restart", || redis.restart().unwrap());
    assert_eq!(redis.port(), port, "same port after a restart");
    assert_ne!(redis.pid().unwrap(), pid);
    assert!(!alive(pid));
    assert_eq!(
        redis.command(&["GET", "k"]).unwrap(),
        "",
        "nothing persisted"
    );

    timed("redis kill + restart", || {
        redis.kill().unwrap();
        redis.restart().unwrap();
    });
    assert_eq!(redis.command(&["PING"]).unwrap(), "PONG");

    let pid = redis.pid().unwrap();
    timed("redis stop", || redis.stop().unwrap());
    assert!(!alive(pid));
    assert!(!dir.exists());
}

#[test]
fn leftovers_of_a_killed_run_are_stopped() {
    // A run that was killed before it could stop its engines: forgotten, not dropped.
    let pg_dir = scratch_dir("parley-engines-pg").unwrap();
    let pg = Postgres::start(&pg_dir, PostgresOptions::for_tests()).unwrap();
    let pg_pid = pg.pid().unwrap();
    std::mem::forget(pg);
    let redis_dir = scratch_dir("parley-engines-redis").unwrap();
    let redis = Redis::start(&redis_dir, RedisOptions::default()).unwrap();
    let redis_pid = redis.pid().unwrap();
    std::mem::forget(redis);

    assert_eq!(Postgres::stop_leftover(&pg_dir).unwrap(), Some(pg_pid));
    assert!(!alive(pg_pid));
    assert_eq!(Postgres::stop_leftover(&pg_dir).unwrap(), None);
    assert_eq!(Redis::stop_leftover(&redis_dir).unwrap(), Some(redis_pid));
    assert!(!alive(redis_pid));
    assert_eq!(Redis::stop_leftover(&redis_dir).unwrap(), None);
    std::fs::remove_dir_all(&pg_dir).unwrap();
    std::fs::remove_dir_all(&redis_dir).unwrap();
}
