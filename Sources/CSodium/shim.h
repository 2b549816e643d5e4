#ifndef KAMIRELAY_CSODIUM_SHIM_H
#define KAMIRELAY_CSODIUM_SHIM_H
#include <sodium.h>
#endif
