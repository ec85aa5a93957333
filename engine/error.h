// Kept so that code written before the move to base/error.h still builds; new code includes base/error.h.
#pragma once

#include "base/error.h"
