package indextts

/*
#include <stdlib.h>
#include "indextts.h"
*/
import "C"

import (
	"context"
	"io"
	"runtime"
	"unsafe"
)

// PullStream reads one text's audio as it is made, into the caller's buffers. Use it from one
// goroutine at a time; Close cancels a synthesis still running.
type PullStream struct {
	ptr        *C.indextts_stream
	SampleRate int
}

// NewPullStream starts speaking text. opts may be nil.
func (s *Synthesizer) NewPullStream(text string, opts *SynthesisOptions) (*PullStream, error) {
	var strs cStrings
	defer strs.free()
	raw, err := s.options(opts, &strs)
	if err != nil {
		return nil, err
	}
	ctext := C.CString(text)
	strs = append(strs, unsafe.Pointer(ctext))
	var ptr *C.indextts_stream
	if _, err := call(func() C.enum_indextts_status {
		return C.indextts_stream_new(s.ptr, ctext, C.size_t(len(text)), raw, &ptr)
	}); err != nil {
		return nil, err
	}
	runtime.KeepAlive(s)
	p := &PullStream{ptr: ptr, SampleRate: int(C.indextts_stream_sample_rate(ptr))}
	runtime.SetFinalizer(p, (*PullStream).Close)
	return p, nil
}

// Next copies the next samples into buf and returns how many; io.EOF after the last one.
// It blocks until audio is ready.
func (p *PullStream) Next(buf []float32) (int, error) {
	if len(buf) == 0 {
		return 0, &Error{Status: StatusInvalidArgument, Message: "buffer of length 0"}
	}
	var written C.size_t
	status, err := call(func() C.enum_indextts_status {
		return C.indextts_stream_next(p.ptr, (*C.float)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &written)
	})
	runtime.KeepAlive(p)
	if err != nil {
		return 0, err
	}
	if status == statusStreamEnd {
		return 0, io.EOF
	}
	return int(written), nil
}

// Word is a word of the text and when it is said, in samples from the start of the audio.
type Word struct {
	Text string
	// Its bytes in the input text: [TextStart, TextEnd).
	TextStart, TextEnd     int
	StartSample, EndSample uint64
}

// Phoneme is a phoneme the model says, its id in the voice's symbol table, and when.
type Phoneme struct {
	Phoneme                string
	ID                     int64
	StartSample, EndSample uint64
}

// Chunk is a piece of audio with the words and phonemes that start in it.
type Chunk struct {
	Samples     []float32
	SampleRate  int
	Sentence    int
	StartSample uint64
	SentenceEnd bool
	Words       []Word
	Phonemes    []Phoneme
}

// NextChunk returns the next chunk, copied out of the library, with its word and phoneme
// marks; io.EOF after the last one. It blocks until audio is ready. Do not mix it with Next
// on one stream.
func (p *PullStream) NextChunk() (*Chunk, error) {
	var raw *C.indextts_chunk
	status, err := call(func() C.enum_indextts_status {
		return C.indextts_stream_next_chunk(p.ptr, &raw)
	})
	defer runtime.KeepAlive(p)
	if err != nil {
		return nil, err
	}
	if status == statusStreamEnd {
		return nil, io.EOF
	}
	c := &Chunk{
		Samples:     copySamples(raw.samples, int(raw.len)),
		SampleRate:  int(raw.sample_rate),
		Sentence:    int(raw.sentence),
		StartSample: uint64(raw.start_sample),
		SentenceEnd: bool(raw.sentence_end),
	}
	if raw.words_len > 0 {
		for _, w := range unsafe.Slice(raw.words, int(raw.words_len)) {
			c.Words = append(c.Words, Word{
				Text:        C.GoString(w.text),
				TextStart:   int(w.text_start),
				TextEnd:     int(w.text_end),
				StartSample: uint64(w.start_sample),
				EndSample:   uint64(w.end_sample),
			})
		}
	}
	if raw.phonemes_len > 0 {
		for _, m := range unsafe.Slice(raw.phonemes, int(raw.phonemes_len)) {
			c.Phonemes = append(c.Phonemes, Phoneme{
				Phoneme:     C.GoString(m.phoneme),
				ID:          int64(m.id),
				StartSample: uint64(m.start_sample),
				EndSample:   uint64(m.end_sample),
			})
		}
	}
	return c, nil
}

// Close frees the stream, cancelling it if it is still running.
func (p *PullStream) Close() {
	if p.ptr != nil {
		C.indextts_stream_free(p.ptr)
		p.ptr = nil
		runtime.SetFinalizer(p, nil)
	}
}

// Stream speaks text in the background and sends chunks of samples on a channel as they are
// made. Cancelling ctx stops the synthesis; the channel is then closed and Err tells why.
type Stream struct {
	chunks     chan []float32
	err        error
	SampleRate int
}

// Chunks is closed after the last chunk, or when the stream fails or is cancelled.
func (st *Stream) Chunks() <-chan []float32 { return st.chunks }

// Err is why the stream ended early (nil if all audio came); valid once Chunks is closed.
func (st *Stream) Err() error { return st.err }

// Stream starts speaking text; read Chunks until it is closed, then check Err.
func (s *Synthesizer) Stream(ctx context.Context, text string, opts *SynthesisOptions) (*Stream, error) {
	pull, err := s.NewPullStream(text, opts)
	if err != nil {
		return nil, err
	}
	st := &Stream{chunks: make(chan []float32, 4), SampleRate: pull.SampleRate}
	go func() {
		defer close(st.chunks)
		defer pull.Close()
		buf := make([]float32, 4096)
		for {
			if err := ctx.Err(); err != nil {
				st.err = err
				return
			}
			n, err := pull.Next(buf)
			if err == io.EOF {
				return
			}
			if err != nil {
				st.err = err
				return
			}
			chunk := make([]float32, n)
			copy(chunk, buf[:n])
			select {
			case st.chunks <- chunk:
			case <-ctx.Done():
				st.err = ctx.Err()
				return
			}
		}
	}()
	return st, nil
}

// TextSink takes text that arrives while its audio plays (a language model's answer as it is
// written); see Synthesizer.TextStream. Use it from one goroutine at a time.
type TextSink struct {
	ptr *C.indextts_text_stream
}

// TextStream starts speaking text that will be pushed into the returned sink; the audio comes
// from the returned PullStream as each sentence (or, while the listener would wait, each
// clause) is complete. Push, then Finish; Close both when done. opts may be nil.
func (s *Synthesizer) TextStream(opts *SynthesisOptions) (*TextSink, *PullStream, error) {
	var strs cStrings
	defer strs.free()
	raw, err := s.options(opts, &strs)
	if err != nil {
		return nil, nil, err
	}
	var sink *C.indextts_text_stream
	var audio *C.indextts_stream
	if _, err := call(func() C.enum_indextts_status {
		return C.indextts_text_stream_new(s.ptr, raw, &sink, &audio)
	}); err != nil {
		return nil, nil, err
	}
	runtime.KeepAlive(s)
	t := &TextSink{ptr: sink}
	runtime.SetFinalizer(t, (*TextSink).Close)
	p := &PullStream{ptr: audio, SampleRate: int(C.indextts_stream_sample_rate(audio))}
	runtime.SetFinalizer(p, (*PullStream).Close)
	return t, p, nil
}

// Push adds text: any piece, a token or half a word.
func (t *TextSink) Push(text string) error {
	if len(text) == 0 {
		return nil
	}
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	_, err := call(func() C.enum_indextts_status {
		return C.indextts_text_stream_push(t.ptr, ctext, C.size_t(len(text)))
	})
	runtime.KeepAlive(t)
	return err
}

// Flush speaks everything pushed so far now, complete or not.
func (t *TextSink) Flush() error {
	_, err := call(func() C.enum_indextts_status { return C.indextts_text_stream_flush(t.ptr) })
	runtime.KeepAlive(t)
	return err
}

// Finish ends the text: the rest is spoken, then the audio stream ends.
func (t *TextSink) Finish() error {
	_, err := call(func() C.enum_indextts_status { return C.indextts_text_stream_finish(t.ptr) })
	runtime.KeepAlive(t)
	return err
}

// Close frees the sink (finishing the text if Finish was not called).
func (t *TextSink) Close() {
	if t.ptr != nil {
		C.indextts_text_stream_free(t.ptr)
		t.ptr = nil
		runtime.SetFinalizer(t, nil)
	}
}
