package shm

const sysMemfdCreate = 279 // memfd_create(2) on linux/arm64
