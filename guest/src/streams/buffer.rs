//! The read buffer of a `StreamReader` (`reader.rs`), and the separator search `readline`
//! and `readuntil` use.

/// A byte queue: appended at the back, consumed from the front. Consuming only moves
/// `start`; the dead front is reclaimed when it is at least as long as the live bytes, so
/// each byte is moved at most once on average and the allocation is reused.
#[derive(Default)]
pub(super) struct Buffer {
    bytes: Vec<u8>,
    start: usize,
}

impl Buffer {
    pub(super) fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    pub(super) fn extend(&mut self, data: &[u8]) {
        if self.start > 0 && self.start >= self.len() {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        self.bytes.extend_from_slice(data);
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.bytes.len() {
            self.clear();
        }
    }

    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.start = 0;
    }

    /// Takes up to `n` bytes from the front.
    pub(super) fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.len());
        let out = self.as_slice()[..n].to_vec();
        self.consume(n);
        out
    }

    /// Moves every byte to the end of `out` (without copying when `out` is empty).
    pub(super) fn drain_into(&mut self, out: &mut Vec<u8>) {
        if out.is_empty() && self.start == 0 {
            std::mem::swap(out, &mut self.bytes);
        } else {
            out.extend_from_slice(self.as_slice());
        }
        self.clear();
    }

    /// Copies the front into `buf` (as much as fits) and consumes it; returns the count.
    pub(super) fn read_into(&mut self, buf: &mut [u8]) -> usize {
        let n = self.len().min(buf.len());
        buf[..n].copy_from_slice(&self.as_slice()[..n]);
        self.consume(n);
        n
    }

    /// Puts `front` back before the bytes buffered (they were taken out and not used).
    pub(super) fn unread(&mut self, front: Buffer) {
        if front.is_empty() {
            return;
        }
        if self.is_empty() {
            *self = front;
            return;
        }
        let mut bytes = Vec::with_capacity(front.len() + self.len());
        bytes.extend_from_slice(front.as_slice());
        bytes.extend_from_slice(self.as_slice());
        *self = Buffer { bytes, start: 0 };
    }

    pub(super) fn take_all(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.drain_into(&mut out);
        out
    }
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [byte] => haystack.iter().position(|b| b == byte),
        _ => haystack.windows(needle.len()).position(|w| w == needle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_consumes_from_the_front_and_reuses_its_space() {
        let mut b = Buffer::default();
        b.extend(b"hello world");
        assert_eq!(b.take(6), b"hello ");
        assert_eq!(b.as_slice(), b"world");
        // The dead front (6 bytes) outgrew the live part (5): reclaimed on the next append.
        b.extend(b"!");
        assert_eq!(b.start, 0);
        assert_eq!(b.as_slice(), b"world!");
        b.consume(6);
        assert!(b.is_empty());
        assert_eq!(b.take_all(), b"");
    }

    #[test]
    fn unread_puts_bytes_back_in_front() {
        let mut b = Buffer::default();
        b.extend(b"world");
        let mut front = Buffer::default();
        front.extend(b"xhello ");
        front.consume(1);
        b.unread(front);
        assert_eq!(b.as_slice(), b"hello world");
        let mut empty = Buffer::default();
        empty.unread(std::mem::take(&mut b));
        assert_eq!(empty.as_slice(), b"hello world");
        empty.unread(Buffer::default());
        assert_eq!(empty.as_slice(), b"hello world");
    }

    #[test]
    fn find_handles_one_and_many_byte_separators() {
        assert_eq!(find(b"abc\ndef", b"\n"), Some(3));
        assert_eq!(find(b"abc\r\ndef", b"\r\n"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
    }
}
