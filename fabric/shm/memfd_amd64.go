package shm

const sysMemfdCreate = 319 // memfd_create(2) on linux/amd64
