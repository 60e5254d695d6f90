// Must not compile: a cell name that is not in the registry (CTest cells.misspelt_cell).
#include "addfdlab/cells.h"

const char* kCell = addfdlab::Cell("ADDFD.STRANDD");
