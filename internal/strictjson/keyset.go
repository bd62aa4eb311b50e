package strictjson

import (
	"hash/maphash"
)

// keySet is a set of canonical keys: a byte arena with end offsets, plus an
// open-addressing table of indexes once the object is large. Nothing is
// allocated per object once the buffers have grown.
type keySet struct {
	arena []byte
	ends  []int32
	table []int32 // a slot holds index+1; empty until len(ends) > smallObject
}

var keySeed = maphash.MakeSeed()

func (k *keySet) reset() {
	k.arena = k.arena[:0]
	k.ends = k.ends[:0]
	k.table = k.table[:0]
}

func (k *keySet) key(i int) []byte {
	start := int32(0)
	if i > 0 {
		start = k.ends[i-1]
	}
	return k.arena[start:k.ends[i]]
}

// add records key and reports whether it was already present.
func (k *keySet) add(key []byte) (dup bool) {
	n := len(k.arena)
	k.arena = append(k.arena, key...)
	return k.commit(n)
}

// addUpper records raw, a key of plain ASCII bytes, in its canonical form
// (upper case) and reports whether it was already present; key is the
// canonical form, valid until the next key is added.
func (k *keySet) addUpper(raw []byte) (key []byte, dup bool) {
	n := len(k.arena)
	k.arena = appendUpper(k.arena, raw)
	return k.arena[n:], k.commit(n)
}

// commit keeps the key written at arena[n:] unless the set holds it
// already, in which case it is dropped and dup is true.
func (k *keySet) commit(n int) (dup bool) {
	key := k.arena[n:]
	if len(k.table) > 0 {
		mask := uint64(len(k.table) - 1)
		for h := maphash.Bytes(keySeed, key) & mask; ; h = (h + 1) & mask {
			e := k.table[h]
			if e == 0 {
				k.ends = append(k.ends, int32(len(k.arena)))
				k.table[h] = int32(len(k.ends))
				if 2*len(k.ends) > len(k.table) {
					k.rehash(2 * len(k.table))
				}
				return false
			}
			if string(k.key(int(e-1))) == string(key) {
				k.arena = k.arena[:n]
				return true
			}
		}
	}
	start := int32(0)
	for _, end := range k.ends {
		if int(end-start) == len(key) && string(k.arena[start:end]) == string(key) {
			k.arena = k.arena[:n]
			return true
		}
		start = end
	}
	k.ends = append(k.ends, int32(len(k.arena)))
	if len(k.ends) > smallObject {
		k.rehash(firstTable)
	}
	return false
}

// rehash rebuilds the table with size slots (a power of two).
func (k *keySet) rehash(size int) {
	if cap(k.table) >= size {
		k.table = k.table[:size]
		clear(k.table)
	} else {
		k.table = make([]int32, size)
	}
	mask := uint64(size - 1)
	for i := range k.ends {
		h := maphash.Bytes(keySeed, k.key(i)) & mask
		for k.table[h] != 0 {
			h = (h + 1) & mask
		}
		k.table[h] = int32(i + 1)
	}
}
