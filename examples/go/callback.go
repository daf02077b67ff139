package indextts

/*
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "indextts.h"

extern bool indexttsGoChunk(void *user_data, float *samples, size_t len, uint32_t sample_rate);
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"unsafe"
)

type listener struct {
	onChunk func(samples []float32) bool
	panic   interface{}
}

//export indexttsGoChunk
func indexttsGoChunk(userData unsafe.Pointer, samples *C.float, n C.size_t, _ C.uint32_t) (goOn C.bool) {
	l := (*(*cgo.Handle)(userData)).Value().(*listener)
	// A panic must not unwind through C: it cancels the synthesis and is reported after.
	defer func() {
		if p := recover(); p != nil {
			l.panic = p
			goOn = false
		}
	}()
	return C.bool(l.onChunk(copySamples(samples, int(n))))
}

// SynthesizeFunc speaks text, calling onChunk with each chunk (a copy, the callee's to keep)
// as it is made, on the calling goroutine. onChunk returns false to cancel: the result is
// then an *Error with StatusCancelled. A panic in onChunk cancels too and comes back as an
// error. opts may be nil.
func (s *Synthesizer) SynthesizeFunc(text string, opts *SynthesisOptions, onChunk func(samples []float32) bool) error {
	var strs cStrings
	defer strs.free()
	raw, err := s.options(opts, &strs)
	if err != nil {
		return err
	}
	ctext := C.CString(text)
	strs = append(strs, unsafe.Pointer(ctext))
	l := &listener{onChunk: onChunk}
	handle := cgo.NewHandle(l)
	defer handle.Delete()
	_, err = call(func() C.enum_indextts_status {
		return C.indextts_synthesize_stream(s.ptr, ctext, C.size_t(len(text)), raw,
			C.indextts_chunk_callback(C.indexttsGoChunk), unsafe.Pointer(&handle))
	})
	if l.panic != nil {
		return fmt.Errorf("indextts: chunk callback panicked: %v", l.panic)
	}
	return err
}
