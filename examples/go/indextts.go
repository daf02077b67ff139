// Package indextts speaks text with indextts's C library (libindextts.so) through cgo.
//
// Build and test (the library installed where pkg-config finds it):
//
//	make install PREFIX=$PWD/target/c-install        # from the repository root
//	export PKG_CONFIG_PATH=$PWD/target/c-install/lib/pkgconfig
//	export LD_LIBRARY_PATH=$PWD/target/c-install/lib
//	cd examples/go && go test -race ./...
//
// Constructors return an error with the library's message, never a bare nil; samples are
// copied into Go memory before the C object is freed; streams are cancelled through a
// context.Context.
package indextts

/*
#cgo pkg-config: indextts
#include <stdlib.h>
#include "indextts.h"

// The trampoline in callback.go, called by indextts_synthesize_stream.
extern bool indexttsGoChunk(void *user_data, float *samples, size_t len, uint32_t sample_rate);
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Status is an indextts_status: what a C call did.
type Status int

// The statuses a caller is most likely to act on; Error.Status holds any of indextts.h's.
const (
	StatusOK              Status = C.INDEXTTS_OK
	StatusNullArgument    Status = C.INDEXTTS_NULL_ARGUMENT
	StatusInvalidUTF8     Status = C.INDEXTTS_INVALID_UTF8
	StatusInvalidArgument Status = C.INDEXTTS_INVALID_ARGUMENT
	StatusEmptyText       Status = C.INDEXTTS_EMPTY_TEXT
	StatusTextTooLong     Status = C.INDEXTTS_TEXT_TOO_LONG
	StatusInvalidOption   Status = C.INDEXTTS_INVALID_OPTION
	StatusUnknownSpeaker  Status = C.INDEXTTS_UNKNOWN_SPEAKER
	StatusUnsupportedText Status = C.INDEXTTS_UNSUPPORTED_TEXT
	StatusVoiceNotFound   Status = C.INDEXTTS_VOICE_NOT_FOUND
	StatusModelFormat     Status = C.INDEXTTS_MODEL_FORMAT
	StatusRuntimeLoad     Status = C.INDEXTTS_RUNTIME_LOAD
	StatusCancelled       Status = C.INDEXTTS_CANCELLED
	statusStreamEnd       Status = C.INDEXTTS_STREAM_END
)

// String is the library's name for the status.
func (s Status) String() string {
	return C.GoString(C.indextts_status_str(C.int32_t(s)))
}

// Error is a failed call: its status and the library's message.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("indextts: %s", e.Message)
}

// call runs one C call and, on a failure, reads its message on the same OS thread (the
// library's last error is thread-local, and a goroutine may move between threads).
func call(f func() C.enum_indextts_status) (Status, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	status := Status(f())
	if status == StatusOK || status == statusStreamEnd {
		return status, nil
	}
	return status, &Error{Status: status, Message: C.GoString(C.indextts_last_error())}
}

// Version is the C library's version, e.g. "0.1.0".
func Version() string {
	return C.GoString(C.indextts_version())
}

// LimitMallocArenas caps glibc's malloc arenas at one per core (unless MALLOC_ARENA_MAX is
// set), so a process synthesizing on many goroutines keeps a flat RSS; call it at the start of
// main. It reports whether the cap was set.
func LimitMallocArenas() bool {
	return C.indextts_limit_malloc_arenas() == 1
}

// Options say how to load a voice. The zero value takes every default.
type Options struct {
	// ONNX Runtime threads per session (0: all cores).
	Threads int
	// Model sessions for callers running at once (0: 1).
	Sessions int
	// The ONNX Runtime shared library ("": $ORT_DYLIB_PATH, else the fetched copy).
	OrtLibrary string
	// Bytes of audio the in-memory sentence cache holds (0: the default, 32 MiB).
	CacheBytes uint64
	// Turn the in-memory sentence cache off.
	NoCache bool
	// A directory for the disk sentence cache ("": none).
	CacheDir string
	// A Redis URL for the shared cache level ("": none).
	RedisURL string
	// Where compiled graphs are kept between starts ("": the default place, "off": none).
	GraphCache string
	// A pronunciation lexicon file, word<TAB>ipa lines ("": none).
	Lexicon string
}

// SynthesisOptions are per-call options; nil takes the voice's own.
type SynthesisOptions struct {
	// Phoneme duration multiplier, > 0 (0: the voice's).
	LengthScale float32
	// Prior noise, >= 0 (nil: the voice's).
	NoiseScale *float32
	// Duration noise, >= 0 (nil: the voice's).
	NoiseW *float32
	// Speaker name or id ("": the first).
	Speaker string
	// A fixed seed for the model's random draws (nil: each sentence seeds itself).
	Seed *uint64
}

// Synthesizer is a loaded voice. Safe for concurrent use by many goroutines; Close it when
// done (a finalizer frees a forgotten one).
type Synthesizer struct {
	ptr *C.indextts_synthesizer
}

// cStrings holds C copies of Go strings until free.
type cStrings []unsafe.Pointer

func (c *cStrings) of(s string) *C.char {
	if s == "" {
		return nil
	}
	p := C.CString(s)
	*c = append(*c, unsafe.Pointer(p))
	return p
}

func (c cStrings) free() {
	for _, p := range c {
		C.free(p)
	}
}

// New loads the voice at voicePath (a directory with one .onnx and its .onnx.json, or the
// .onnx file). opts may be nil.
func New(voicePath string, opts *Options) (*Synthesizer, error) {
	if opts == nil {
		opts = &Options{}
	}
	var strs cStrings
	defer strs.free()
	var raw C.indextts_options
	if _, err := call(func() C.enum_indextts_status { return C.indextts_options_default(&raw) }); err != nil {
		return nil, err
	}
	raw.threads = C.uint32_t(opts.Threads)
	if opts.Sessions > 0 {
		raw.sessions = C.uint32_t(opts.Sessions)
	}
	if opts.CacheBytes > 0 {
		raw.cache_bytes = C.uint64_t(opts.CacheBytes)
	}
	if opts.NoCache {
		raw.cache_bytes = 0
	}
	raw.ort_library = strs.of(opts.OrtLibrary)
	raw.cache_dir = strs.of(opts.CacheDir)
	raw.redis_url = strs.of(opts.RedisURL)
	raw.graph_cache = strs.of(opts.GraphCache)
	raw.lexicon = strs.of(opts.Lexicon)
	voice := C.CString(voicePath)
	defer C.free(unsafe.Pointer(voice))
	var ptr *C.indextts_synthesizer
	if _, err := call(func() C.enum_indextts_status {
		return C.indextts_synthesizer_new(voice, &raw, &ptr)
	}); err != nil {
		return nil, err
	}
	s := &Synthesizer{ptr: ptr}
	runtime.SetFinalizer(s, (*Synthesizer).Close)
	return s, nil
}

// Close frees the voice. Streams already made from it stay valid until they end.
func (s *Synthesizer) Close() {
	if s.ptr != nil {
		C.indextts_synthesizer_free(s.ptr)
		s.ptr = nil
		runtime.SetFinalizer(s, nil)
	}
}

// SampleRate is the voice's sample rate in Hz.
func (s *Synthesizer) SampleRate() int {
	rate := int(C.indextts_synthesizer_sample_rate(s.ptr))
	runtime.KeepAlive(s)
	return rate
}

// options fills the C per-call options from opts (nil: the voice's own), with C strings
// kept in strs.
func (s *Synthesizer) options(opts *SynthesisOptions, strs *cStrings) (*C.indextts_synthesis_options, error) {
	if opts == nil {
		return nil, nil
	}
	raw := (*C.indextts_synthesis_options)(C.malloc(C.size_t(unsafe.Sizeof(C.indextts_synthesis_options{}))))
	*strs = append(*strs, unsafe.Pointer(raw))
	if _, err := call(func() C.enum_indextts_status { return C.indextts_synthesis_options_default(s.ptr, raw) }); err != nil {
		return nil, err
	}
	if opts.LengthScale != 0 {
		raw.length_scale = C.float(opts.LengthScale)
	}
	if opts.NoiseScale != nil {
		raw.noise_scale = C.float(*opts.NoiseScale)
	}
	if opts.NoiseW != nil {
		raw.noise_w = C.float(*opts.NoiseW)
	}
	raw.speaker = strs.of(opts.Speaker)
	if opts.Seed != nil {
		raw.use_seed = 1
		raw.seed = C.uint64_t(*opts.Seed)
	}
	return raw, nil
}

// Audio is mono float32 audio in [-1, 1], in Go memory.
type Audio struct {
	Samples    []float32
	SampleRate int
}

// Seconds is the audio's length.
func (a *Audio) Seconds() float64 {
	if a.SampleRate == 0 {
		return 0
	}
	return float64(len(a.Samples)) / float64(a.SampleRate)
}

// copySamples copies n C floats into a new Go slice.
func copySamples(p *C.float, n int) []float32 {
	out := make([]float32, n)
	if n > 0 {
		copy(out, unsafe.Slice((*float32)(unsafe.Pointer(p)), n))
	}
	return out
}

// Synthesize speaks text and returns all of its audio. opts may be nil.
func (s *Synthesizer) Synthesize(text string, opts *SynthesisOptions) (*Audio, error) {
	var strs cStrings
	defer strs.free()
	raw, err := s.options(opts, &strs)
	if err != nil {
		return nil, err
	}
	ctext := C.CString(text)
	strs = append(strs, unsafe.Pointer(ctext))
	var audio *C.indextts_audio
	if _, err := call(func() C.enum_indextts_status {
		return C.indextts_synthesize(s.ptr, ctext, C.size_t(len(text)), raw, &audio)
	}); err != nil {
		return nil, err
	}
	runtime.KeepAlive(s)
	defer C.indextts_audio_free(audio)
	return &Audio{
		Samples:    copySamples(C.indextts_audio_samples(audio), int(C.indextts_audio_len(audio))),
		SampleRate: int(C.indextts_audio_sample_rate(audio)),
	}, nil
}

// CacheStats are the in-memory cache's counters (the C struct has the disk and Redis levels
// too).
type CacheStats struct {
	Hits, Misses, Bytes, Entries uint64
}

// MemoryCacheStats reads the in-memory sentence cache's counters.
func (s *Synthesizer) MemoryCacheStats() (CacheStats, error) {
	var raw C.indextts_cache_stats
	if _, err := call(func() C.enum_indextts_status { return C.indextts_cache_stats_get(s.ptr, &raw) }); err != nil {
		return CacheStats{}, err
	}
	runtime.KeepAlive(s)
	m := raw.memory
	return CacheStats{Hits: uint64(m.hits), Misses: uint64(m.misses), Bytes: uint64(m.bytes), Entries: uint64(m.entries)}, nil
}

// ClearCache empties every level of the sentence cache.
func (s *Synthesizer) ClearCache() error {
	_, err := call(func() C.enum_indextts_status { return C.indextts_cache_clear(s.ptr) })
	runtime.KeepAlive(s)
	return err
}
