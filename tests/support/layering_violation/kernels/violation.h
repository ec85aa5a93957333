// A kernel header that includes the engine: tools/check_layering.sh must reject this tree (the layering
// test's negative case).
#pragma once

#include "engine/model.h"
