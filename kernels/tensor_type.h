// Kept so that code written before the move to base/tensor_type.h still builds; new code includes
// base/tensor_type.h.
#pragma once

#include "base/tensor_type.h"
