package cuda_test

import (
	"errors"
	"fmt"

	"github.com/gshmem/gshmem/device/cuda"
)

// Load the driver, take device 0's primary context and allocate device
// memory, falling back when the machine has no GPU.
func Example() {
	d, err := cuda.Load("")
	if errors.Is(err, cuda.ErrNoDriver) || errors.Is(err, cuda.ErrNoDevice) {
		fmt.Println("no GPU, using the CPU fallback:", err)
		return
	}
	if err != nil {
		fmt.Println("CUDA driver unusable:", err)
		return
	}
	defer d.Close()
	c, err := d.Primary(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	p, err := c.MemAlloc(1 << 20)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.MemFree(p)
	if err := c.CopyHtoD(p, []byte("hello, device")); err != nil {
		fmt.Println(err)
		return
	}
	buf := make([]byte, 13)
	if err := c.CopyDtoH(buf, p); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", buf)
}
